// Library-mode defaults: what `dagger call` would take from the module's defaultPath, plus the commit from git and,
// when the lab's env is loaded, the lab's images and registry in place of the official ones.
import { execFileSync } from 'node:child_process'
import { labImageVariables } from '../src/config/images.js'

/** Constructor arguments filled from environment variables when set (the lab's env file sets them all). */
export const LAB_DEFAULTS: Record<string, string> = {
  ...labImageVariables(),
  registry: 'LAB_RELEASE_REGISTRY',
  trivyDbRepository: 'LAB_TRIVY_DB_REPOSITORY',
  // the lab's deploys put the application on its real node (lab/components/storage.mjs publishes lab-real-node)
  components: 'LAB_DEPLOY_COMPONENTS',
  publicKey: 'LAB_SIGNING_PUBLIC_KEY_FILE',
}

/** The commit of a work tree and its time; a tree with uncommitted changes is marked "-dirty". */
export function gitCommit(dir: string): { commit: string; commitTime: string } | undefined {
  try {
    const [sha, time] = execFileSync('git', ['-C', dir, 'log', '-1', '--format=%H %ct'], { encoding: 'utf8' }).trim().split(' ')
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== ''
    return { commit: dirty ? `${sha}-dirty` : sha, commitTime: time }
  } catch {
    return undefined
  }
}

/** Constructor values (raw strings) that library mode supplies when the command line does not. */
export function constructorDefaults(repo: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const fromEnv = Object.fromEntries(Object.entries(LAB_DEFAULTS).filter(([, v]) => env[v]).map(([k, v]) => [k, env[v] as string]))
  return { ...(gitCommit(repo) ?? {}), ...fromEnv }
}
