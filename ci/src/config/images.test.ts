import { describe, expect, it } from 'vitest'
import { PINNED_FROM_TAGS, pinnedTags } from './images.js'

describe('pinnedTags', () => {
  const options = {
    postgresImage: 'pg:15', redisImage: 'redis:7', prometheusImage: 'prom:3', alertmanagerImage: 'am:0.28', grafanaImage: 'grafana:12',
    postgresExporterImage: 'pgx:0.11', redisExporterImage: 'rx:1.45',
  }

  it('maps every logical name to the tag its option gives', () => {
    expect(pinnedTags(options)).toEqual({
      'graphmemory/postgres': 'pg:15', 'graphmemory/redis': 'redis:7', 'graphmemory/prometheus': 'prom:3',
      'graphmemory/alertmanager': 'am:0.28', 'graphmemory/grafana': 'grafana:12',
      'graphmemory/postgres-exporter': 'pgx:0.11', 'graphmemory/redis-exporter': 'rx:1.45',
    })
  })
})
