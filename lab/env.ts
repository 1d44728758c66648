// Loads the lab env file (written by `make lab-up`) into process.env, without overriding what is already set.
// Used as a vitest setup file, so `npx vitest` works without `make`.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Path of the lab env file. */
export const labEnvFile = (): string =>
  path.join(process.env.LAB_HOME ?? path.join(os.homedir(), '.graphmemory-lab'), 'state', 'lab.env')

/** Reads KEY=value lines of the lab env file; an empty object when the lab was never brought up. */
export function readLabEnv(file = labEnvFile()): Record<string, string> {
  if (!fs.existsSync(file)) return {}
  const vars: Record<string, string> = {}
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0 && !line.startsWith('#')) vars[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return vars
}

/** The value of a lab variable, or one clear error saying to bring the lab up. */
export function labVar(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: the lab is not up (${labEnvFile()} missing it); run \`make lab-up\``)
  return value
}

for (const [k, v] of Object.entries(readLabEnv())) process.env[k] ??= v
