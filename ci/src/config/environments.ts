// The environments GraphMemory-IDE is deployed to, typed: namespace, overlay, replicas, promotion order.
// A name that is not one of them fails here, before any work, with the list of valid names.
import { PipelineError } from '../errors.js'
import type { ReleasePolicy } from '../plan/attestations.js'

/**
 * An environment of GraphMemory-IDE, in promotion order. A Dagger enum: `dagger call` refuses any other value and
 * `--help` lists these; members are spelt as their values, so `--env prod` reads as documented.
 */
export enum EnvironmentName {
  dev = 'dev',
  staging = 'staging',
  prod = 'prod',
}

/** The valid environment names, in promotion order. */
export const ENVIRONMENT_NAMES: readonly EnvironmentName[] = Object.values(EnvironmentName)

/** What the pipeline knows about one environment. */
export interface Environment {
  readonly name: EnvironmentName
  /** The Kubernetes namespace the overlay renders into. */
  readonly namespace: string
  /** The Kustomize overlay, relative to the k8s/ directory. */
  readonly overlay: string
  /**
   * Starting replicas of the horizontally scaled Deployments (analytics, dashboard); their HPAs then move them within
   * 1-10. The API always runs one replica (embedded Kuzu: one process owns the database file).
   */
  readonly replicas: number
  /** The public host of the dashboard; the API is at api.<host> (the overlay's Ingress, TLS secret graphmemory-tls). */
  readonly host: string
  /** The environment whose running digests are promoted into this one; undefined for the first. */
  readonly promotesFrom?: EnvironmentName
  /**
   * What every image of the pipeline's must carry to run here, checked by deploy, promote and rollback before anything
   * is applied: always a signature by the pipeline's key, plus these attestations (stricter towards prod).
   */
  readonly policy: ReleasePolicy
}

/** dev: signed, scanned (no CRITICAL) and tested. */
const DEV_POLICY: ReleasePolicy = Object.freeze({ attestations: ['scan', 'tests'] as const, scanBlocks: ['CRITICAL'] as const })
/** staging and prod: every attestation the gate makes, and a scan that blocked HIGH as well as CRITICAL. */
const RELEASE_POLICY: ReleasePolicy = Object.freeze({ attestations: ['sbom', 'scan', 'provenance', 'tests'] as const, scanBlocks: ['CRITICAL', 'HIGH'] as const })

const env = (name: EnvironmentName, replicas: number, host: string, policy: ReleasePolicy, promotesFrom?: EnvironmentName): Environment =>
  Object.freeze({ name, namespace: `graphmemory-${name}`, overlay: `overlays/${name}`, replicas, host, policy, promotesFrom })

/** Every environment by name. */
export const ENVIRONMENTS: Readonly<Record<EnvironmentName, Environment>> = Object.freeze({
  dev: env(EnvironmentName.dev, 1, 'dev.graphmemory.example.com', DEV_POLICY),
  staging: env(EnvironmentName.staging, 2, 'staging.graphmemory.example.com', RELEASE_POLICY, EnvironmentName.dev),
  prod: env(EnvironmentName.prod, 2, 'graphmemory.example.com', RELEASE_POLICY, EnvironmentName.staging),
})

/** The order releases move through: dev → staging → prod. */
export const PROMOTION_ORDER: readonly EnvironmentName[] = ENVIRONMENT_NAMES

/** A name that is not a valid environment: the message names it and lists the valid ones. */
export class UnknownEnvironmentError extends PipelineError {
  constructor(readonly given: string) {
    super(
      given.trim() === '' ? 'no environment given' : `unknown environment "${given}"`,
      `valid environments are ${ENVIRONMENT_NAMES.join(', ')}`,
      'name one of them explicitly, e.g. --env dev (there is no default)',
    )
    this.name = 'UnknownEnvironmentError'
  }
}

/** True when name is a valid environment name (exact, case-sensitive). */
export function isEnvironmentName(name: string): name is EnvironmentName {
  return (ENVIRONMENT_NAMES as readonly string[]).includes(name)
}

/** The environment of that name; throws UnknownEnvironmentError (listing the valid names) for any other. */
export function environment(name: string): Environment {
  if (!isEnvironmentName(name)) throw new UnknownEnvironmentError(name)
  return ENVIRONMENTS[name]
}

/** The environment a release from `name` is promoted to next; undefined for the last one. */
export function nextEnvironment(name: string): Environment | undefined {
  const i = PROMOTION_ORDER.indexOf(environment(name).name)
  const next = PROMOTION_ORDER[i + 1]
  return next === undefined ? undefined : ENVIRONMENTS[next]
}
