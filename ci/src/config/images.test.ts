import { describe, expect, it } from 'vitest'
import { IMAGES, PINNED_FROM_TAGS, labImageVariables, pinnedTags } from './images.js'

describe('the images table', () => {
  const options = {
    postgresImage: 'pg:15', redisImage: 'redis:7', prometheusImage: 'prom:3', alertmanagerImage: 'am:0.28', grafanaImage: 'grafana:12',
    postgresExporterImage: 'pgx:0.11', redisExporterImage: 'rx:1.45', trivyImage: 'not-pinned:1',
  }

  it('pins exactly the images a release runs, each from the tag its option gives', () => {
    expect(pinnedTags(options)).toEqual({
      'graphmemory/postgres': 'pg:15', 'graphmemory/redis': 'redis:7', 'graphmemory/prometheus': 'prom:3',
      'graphmemory/alertmanager': 'am:0.28', 'graphmemory/grafana': 'grafana:12',
      'graphmemory/postgres-exporter': 'pgx:0.11', 'graphmemory/redis-exporter': 'rx:1.45',
    })
  })

  it('an option not given pins its online default', () => {
    expect(pinnedTags({})['graphmemory/postgres']).toBe(IMAGES.postgresImage.default)
  })

  it('every row has a lab variable of its own, and every pinned name one option', () => {
    const variables = Object.values(labImageVariables())
    expect(variables.every((v) => /^LAB_IMAGE_[A-Z_]+$/.test(v))).toBe(true)
    expect(new Set(variables).size).toBe(variables.length)
    expect(Object.keys(PINNED_FROM_TAGS).every((n) => n.startsWith('graphmemory/'))).toBe(true)
  })
})
