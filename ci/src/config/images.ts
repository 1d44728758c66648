// Every image the pipeline takes from outside rather than building: one row each. From this table come the
// constructor's defaults (the online images), library mode's lab defaults (the lab's variable for each) and the list
// of images a deploy pins to a digest (those a release runs, by their logical name in k8s/). Adding an image is a row
// here and its constructor parameter, whose default reads the row (surface.test checks that every row has one).

interface ImageRow {
  /** The online image: the constructor's default. */
  readonly default: string
  /** The lab env file's variable that replaces it in library mode (lab/components/base-images.mjs and others). */
  readonly lab: string
  /** For an image a release runs: its logical name in k8s/, which a deploy pins to the digest its tag has then. */
  readonly pinned?: string
}

/** Constructor option → its image row. */
export const IMAGES = {
  builderImage: { default: 'python:3.11-slim-bookworm', lab: 'LAB_IMAGE_PYTHON_BUILD' },
  runtimeImage: { default: 'python:3.11-slim-bookworm', lab: 'LAB_IMAGE_PYTHON_RUNTIME' },
  postgresImage: { default: 'postgres:15-bookworm', lab: 'LAB_IMAGE_POSTGRES', pinned: 'graphmemory/postgres' },
  redisImage: { default: 'redis:7-bookworm', lab: 'LAB_IMAGE_REDIS', pinned: 'graphmemory/redis' },
  trivyImage: { default: 'docker.io/aquasec/trivy:0.76.0', lab: 'LAB_IMAGE_TRIVY' },
  cosignImage: { default: 'ghcr.io/sigstore/cosign/cosign:v3.1.3-dev', lab: 'LAB_IMAGE_COSIGN' },
  kustomizeImage: { default: 'registry.k8s.io/kustomize/kustomize:v5.8.0', lab: 'LAB_IMAGE_KUSTOMIZE' },
  // pinned to the versions the lab builds from Debian bookworm
  prometheusImage: { default: 'docker.io/prom/prometheus:v2.42.0', lab: 'LAB_IMAGE_PROMETHEUS', pinned: 'graphmemory/prometheus' },
  alertmanagerImage: { default: 'docker.io/prom/alertmanager:v0.25.0', lab: 'LAB_IMAGE_ALERTMANAGER', pinned: 'graphmemory/alertmanager' },
  otelcolImage: { default: 'docker.io/otel/opentelemetry-collector-contrib:0.165.0', lab: 'LAB_IMAGE_OTELCOL' },
  grafanaImage: { default: 'docker.io/grafana/grafana:12.3.0', lab: 'LAB_IMAGE_GRAFANA', pinned: 'graphmemory/grafana' },
  postgresExporterImage: { default: 'quay.io/prometheuscommunity/postgres-exporter:v0.11.1', lab: 'LAB_IMAGE_POSTGRES_EXPORTER', pinned: 'graphmemory/postgres-exporter' },
  redisExporterImage: { default: 'docker.io/oliver006/redis_exporter:v1.45.0', lab: 'LAB_IMAGE_REDIS_EXPORTER', pinned: 'graphmemory/redis-exporter' },
} as const satisfies Record<string, ImageRow>

/** A constructor option that names an image. */
export type ImageOption = keyof typeof IMAGES

/** Logical image name in k8s/ → the constructor option holding its tag, for every image a deploy pins. */
export const PINNED_FROM_TAGS: Readonly<Record<string, ImageOption>> = Object.fromEntries(
  (Object.entries(IMAGES) as [ImageOption, ImageRow][]).flatMap(([option, row]) => (row.pinned ? [[row.pinned, option]] : [])))

/** Logical name → tag of every image pinned from its tag, read from the options that give them. */
export const pinnedTags = (options: Partial<Record<ImageOption, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(PINNED_FROM_TAGS).map(([name, option]) => [name, options[option] ?? IMAGES[option].default]))

/** Constructor option → the lab env file's variable of its image. */
export const labImageVariables = (): Record<ImageOption, string> =>
  Object.fromEntries(Object.entries(IMAGES).map(([option, row]) => [option, row.lab])) as Record<ImageOption, string>
