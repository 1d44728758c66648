import { describe, expect, it } from 'vitest'
import { hasDigest, imagePins, imagesFromArgs, setImageArgs, imagesFromRefs } from './images.js'

const D = 'sha256:' + 'ab'.repeat(32)

describe('image pins', () => {
  it('accepts refs with a digest, with or without a tag or a registry port, sorted by name', () => {
    const pins = imagePins({
      'graphmemory/redis': `127.0.0.1:5000/gmi-lab/redis:7-bookworm@${D}`,
      'graphmemory/api': `127.0.0.1:5001/graphmemory/api@${D}`,
    })
    expect(pins.map((p) => p.name)).toEqual(['graphmemory/api', 'graphmemory/redis'])
    expect(setImageArgs(pins)).toEqual([
      `graphmemory/api=127.0.0.1:5001/graphmemory/api@${D}`,
      `graphmemory/redis=127.0.0.1:5000/gmi-lab/redis:7-bookworm@${D}`,
    ])
  })

  it('refuses tags, short or uppercase digests and other algorithms, listing every bad entry at once', () => {
    const attempt = () => imagePins({
      'graphmemory/api': 'ghcr.io/acme/api:1.2.3',
      'graphmemory/analytics': `ghcr.io/acme/analytics@sha256:${'ab'.repeat(31)}`,
      'graphmemory/dashboard': `ghcr.io/acme/dashboard@sha256:${'AB'.repeat(32)}`,
      'graphmemory/postgres': `ghcr.io/acme/pg@sha512:${'ab'.repeat(64)}`,
      'graphmemory/redis': `ghcr.io/acme/redis@${D}`,
    })
    expect(attempt).toThrow('image references refused')
    for (const n of ['api', 'analytics', 'dashboard', 'postgres']) expect(attempt).toThrow(`graphmemory/${n}=`)
    expect(attempt).not.toThrow('graphmemory/redis=')
  })

  it('refuses a malformed logical name (it would change what kustomize edit parses)', () => {
    expect(() => imagePins({ 'graphmemory/api=evil': `x/y@${D}` })).toThrow('is not an image name')
    expect(() => imagePins({ 'Graphmemory/API': `x/y@${D}` })).toThrow('is not an image name')
  })

  it('hasDigest', () => {
    expect(hasDigest(`a/b@${D}`)).toBe(true)
    expect(hasDigest(`a/b:1@${D}`)).toBe(true)
    expect(hasDigest('a/b:1')).toBe(false)
    expect(hasDigest(`a/b@${D} `)).toBe(false)
    expect(hasDigest(`@${D}`)).toBe(false)
  })
})

describe('imagesFromArgs', () => {
  it('reads name=ref entries, also comma-separated', () => {
    expect(imagesFromArgs([`graphmemory/api=r/api@${D}`, ` graphmemory/redis=r/redis:7@${D} , graphmemory/dashboard=r/d@${D}`])).toEqual({
      'graphmemory/api': `r/api@${D}`, 'graphmemory/redis': `r/redis:7@${D}`, 'graphmemory/dashboard': `r/d@${D}`,
    })
    expect(imagesFromArgs([])).toEqual({})
  })

  it('refuses an entry without a name and a name given twice, naming both', () => {
    const attempt = () => imagesFromArgs([`r/api@${D}`, `graphmemory/api=r/a@${D}`, `graphmemory/api=r/b@${D}`])
    expect(attempt).toThrow(`image arguments refused: "r/api@${D}" is not <name>=<ref>; graphmemory/api is given twice`)
  })
})

describe('imagesFromRefs', () => {
  it('takes name=ref pairs and bare references by digest, naming a bare one by its repository', () => {
    const d = `sha256:${'a'.repeat(64)}`
    expect(imagesFromRefs(`graphmemory/api=r/x/api@${d}, r/graphmemory/dashboard:abc@${d},r/other/thing@${d}`, ['graphmemory/api', 'graphmemory/dashboard']))
      .toEqual({ 'graphmemory/api': `r/x/api@${d}`, 'graphmemory/dashboard': `r/graphmemory/dashboard:abc@${d}`, 'r/other/thing': `r/other/thing@${d}` })
  })
})
