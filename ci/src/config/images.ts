// The images a release runs that the pipeline does not build (the stores, the monitoring servers and the stores'
// exporters): each logical
// name of the manifests, with the constructor option that gives its tag. A deploy pins the ones its overlay uses to
// the digest their tag has at that moment.

/** Logical image name in k8s/ → the constructor option holding its tag. */
export const PINNED_FROM_TAGS = {
  'graphmemory/postgres': 'postgresImage',
  'graphmemory/redis': 'redisImage',
  'graphmemory/prometheus': 'prometheusImage',
  'graphmemory/alertmanager': 'alertmanagerImage',
  'graphmemory/grafana': 'grafanaImage',
  'graphmemory/postgres-exporter': 'postgresExporterImage',
  'graphmemory/redis-exporter': 'redisExporterImage',
} as const

/** A constructor option that names an image pinned from its tag. */
export type PinnedOption = (typeof PINNED_FROM_TAGS)[keyof typeof PINNED_FROM_TAGS]

/** Logical name → tag of every image pinned from its tag, read from the options that give them. */
export const pinnedTags = (options: Record<PinnedOption, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(PINNED_FROM_TAGS).map(([name, option]) => [name, options[option]]))
