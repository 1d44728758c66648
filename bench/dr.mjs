#!/usr/bin/env node
// The disaster-recovery drill, timed (lab/components/dr.testkit.ts; asserted by lab/components/backup.test.ts):
// a copy of dev with the backup components on the lab's real node, data written through the API, a backup, the
// namespace deleted with its claims, a fresh deploy restored from the latest backup, the data read back with the
// same key. Prints RPO (the disaster's time minus the restored backup's) and RTO (the disaster to the API answering
// with the data again), beside the 30 s rollback yardstick of the seed.
//   make bench-dr            (npx tsx bench/dr.mjs, with the lab env loaded)
import { drill, removePrefix } from '../lab/components/dr.testkit.ts'

const ROLLBACK_YARDSTICK_SECONDS = 30

const r = await drill((line) => process.stderr.write(`  ${line}\n`))
try {
  if (JSON.stringify(r.after) !== JSON.stringify(r.written.view)) throw new Error(`the restored data differs: ${JSON.stringify(r.after)}`)
  const f = r.figures
  const rows = [
    ['deploy (the copy of dev, with backups)', f.deploySeconds],
    ['backup (pg_dump, graph snapshot, upload, verify)', f.backupSeconds],
    ['disaster: namespace + claims deleted', f.deleteSeconds],
    ['redeploy into a fresh namespace', f.redeploySeconds],
    ['restore (verify Job, then restore Job)', f.restoreSeconds],
  ]
  console.log('DR drill on the lab\'s real node (backup restored: %s)', r.backupName)
  for (const [what, s] of rows) console.log(`  ${String(what).padEnd(52)} ${s.toFixed(1).padStart(7)} s`)
  console.log(`  RPO (disaster − backup time)                         ${f.rpoSeconds.toFixed(1).padStart(7)} s  (bound by the hourly schedule: ≤ 3600 s)`)
  console.log(`  RTO (disaster → API answers with the data)          ${f.rtoSeconds.toFixed(1).padStart(7)} s  (yardstick: a rollback, ${ROLLBACK_YARDSTICK_SECONDS} s)`)
  console.log(`  RTO without the redeploy (restore + first answer)   ${(f.rtoSeconds - f.deleteSeconds - f.redeploySeconds).toFixed(1).padStart(7)} s`)
  console.log(JSON.stringify({ backup: r.backupName, ...f }))
} finally {
  await r.restored.remove().catch(() => undefined)
  removePrefix(r.source.env.namespace)
  removePrefix(r.restored.env.namespace)
}
