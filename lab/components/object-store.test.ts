// The lab's object store (rclone serve s3, a host daemon): up, on both addresses, its key pair only in files, never
// in its arguments or the env file. A signed round trip from a pod is the DR drill's (lab/components/backup.test.ts).
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runningPid } from '../lib/proc.mjs'
import * as store from './object-store.mjs'

describe('object store (rclone serve s3)', () => {
  it('is up, and a second up() changes nothing (same process)', async () => {
    const pid = runningPid('object-store')
    expect(pid).toBeDefined()
    const r = await store.up()
    expect(r.built).toBe(false)
    expect(runningPid('object-store')).toBe(pid)
    expect(await store.status()).toEqual([expect.objectContaining({ name: 'object-store', state: 'ok', version: `rclone ${store.VERSION}` })])
  })

  it('answers S3 on the host and on the real node\'s bridge, and refuses an unsigned request', async () => {
    for (const url of [store.HOST_URL, store.POD_URL]) {
      const r = await fetch(`${url}/${store.BUCKET}/`)
      expect(r.status, url).toBeGreaterThanOrEqual(400)
      expect(await r.text(), url).toMatch(/<Error><Code>/)
    }
  })

  it('keeps its key pair in two 0600 files, named (not shown) by the env file, and out of its process arguments', () => {
    const env = store.env()
    expect(env.LAB_OBJECT_STORE_ACCESS_KEY_ID_FILE).toBe(store.ACCESS_KEY_ID_FILE)
    expect(env.LAB_OBJECT_STORE_SECRET_ACCESS_KEY_FILE).toBe(store.SECRET_ACCESS_KEY_FILE)
    const { accessKeyId, secretAccessKey } = store.credentials()
    expect(secretAccessKey.length).toBeGreaterThanOrEqual(32)
    for (const f of [store.ACCESS_KEY_ID_FILE, store.SECRET_ACCESS_KEY_FILE]) expect(fs.statSync(f).mode & 0o777).toBe(0o600)
    const args = fs.readFileSync(`/proc/${runningPid('object-store')}/cmdline`, 'utf8')
    expect(args).toContain('serve\0s3')
    for (const secret of [accessKeyId, secretAccessKey]) {
      expect(args).not.toContain(secret)
      expect(JSON.stringify(env)).not.toContain(secret)
    }
  })
})
