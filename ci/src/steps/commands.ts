// Steps: the deploy commands (plan, deploy, rollback, history, promote) composed from the release helpers, the
// cluster client and the guarded deploy. Each checks what it can (environment, secrets, cluster access) before any work,
// and every image of a release is verified under the environment's policy before anything is applied.
import type { Directory, Secret, Service } from '@dagger.io/dagger'
import { environment, type Environment } from '../config/environments.js'
import { PipelineError } from '../errors.js'
import { formatPlan } from '../plan/changes.js'
import { imagePins, imagesFromArgs } from '../plan/images.js'
import { current, formatHistory, rollbackTarget } from '../plan/releases.js'
import { parseSecretValues } from '../plan/secrets.js'
import type { Kube } from '../adapters/kubernetes.js'
import { connectCluster } from './cluster.js'
import { deployRelease, type DeployOutcome } from './deploy.js'
import { readManifest, readReleases } from './history.js'
import { checkManifest, namespaceExists, planChanges } from './plan.js'
import { componentNotes, releaseImages, renderRelease, requiredSecrets, secretText, servicesToBuild, type ImageSources } from './release.js'
import { Progress } from '../progress.js'

/** What every deploy command needs from the pipeline object. */
export interface DeployContext {
  source: Directory
  kustomizeImage: string
  commit: string
  images: ImageSources
  /** Extra kustomize components rendered into every environment (folders of k8s/components; the lab: lab-real-node). */
  components?: string[]
  /**
   * What a deploy from source lacks to run the gate (registry password, signing key), as one refusal; undefined when
   * it has everything. Asked before any work when a deploy builds any image.
   */
  cannotBuild?: string
  log?: (line: string) => void
}

/** The cluster of an environment, checked reachable and authorised now (a bad token fails here, before any work). */
async function cluster(env: Environment, kubeconfig: Secret, service?: Service): Promise<Kube> {
  const kube = await connectCluster(kubeconfig, service)
  await namespaceExists(kube, env)
  return kube
}

const outcomeLine = (o: DeployOutcome, what: string): string =>
  `${what} ${o.env}: release ${o.revision} ${o.changed ? 'is running' : 'was already running (nothing applied)'}`

/** Plan: what deploying these images (default: those running now) would change, human or JSON. */
export async function planEnvironment(ctx: DeployContext, envName: string, kubeconfig: Secret, images: string, json: boolean, service?: Service): Promise<string> {
  const env = environment(envName)
  const kube = await cluster(env, kubeconfig, service)
  const running = current(await readReleases(kube, env.namespace))
  if (!images && !running) {
    throw new PipelineError(`nothing is deployed in ${env.name} yet`, 'plan compares with the running release when no images are given',
      'pass --images graphmemory/api=<ref@sha256:...>,... (publish prints them)')
  }
  // the images given replace those of the running release; the others stay as they run (nothing is built or re-pinned)
  const given = imagesFromArgs(images ? [images] : [])
  imagePins(given)
  // what runs, the images given over it, and what neither has (e.g. a monitoring server new to the environment) as
  // a deploy would pin it
  const { manifest } = await renderRelease(ctx.source, env, { ...running?.images, ...given }, ctx.images.pinned, ctx.kustomizeImage, ctx.components)
  const objects = checkManifest(manifest, env, await requiredSecrets(ctx.source, env, ctx.components))
  const { plan } = await planChanges(kube, env, objects, running?.inventory ?? [])
  return json ? JSON.stringify({ environment: env.name, ...plan }, null, 2) : formatPlan(plan, env.name)
}

/** Runs the release's phases as progress steps: a line as each starts and ends, with its duration. */
const phases = (ctx: DeployContext) => new Progress(ctx.log)

/** Verifies every image of a rendered release for `env` (see ImageSources.verify) as a progress step. */
const verified = (ctx: DeployContext, progress: Progress, images: Record<string, string>, env: Environment): Promise<string> =>
  progress.step('verify', undefined, () => ctx.images.verify(images, env), (line) => line)

/**
 * Deploy: images given, or built from source through `ci`'s whole gate (tests, scan, SBOM, signature, attestations);
 * rendered; every image verified under the environment's policy; then the guarded deploy.
 */
export async function deployEnvironment(ctx: DeployContext, envName: string, kubeconfig: Secret, secrets: Secret | undefined, images: string, timeoutSeconds: number, service?: Service): Promise<string> {
  const env = environment(envName)
  const given = imagesFromArgs(images ? [images] : [])
  imagePins(given)
  const build = servicesToBuild(given)
  if (build.length && ctx.cannotBuild) {
    throw new PipelineError(`cannot deploy ${env.name} from source`, `${build.join(', ')} would be built, and ${ctx.cannotBuild}`,
      'give the registry password and the signing key (--password, --signing-key, --signing-password), or deploy images that passed `ci` with --images')
  }
  const values = parseSecretValues((await secretText(secrets)) ?? '')
  const kube = await cluster(env, kubeconfig, service)
  const required = await requiredSecrets(ctx.source, env, ctx.components)
  const progress = phases(ctx)
  const made = await progress.step('gate', build.join(',') || undefined, () => releaseImages(images, ctx.images),
    () => (build.length ? `${build.join(', ')} built, tested, scanned, published and signed` : 'every image given'))
  const release = await progress.step('render', undefined, () => renderRelease(ctx.source, env, made, ctx.images.pinned, ctx.kustomizeImage, ctx.components))
  for (const note of await componentNotes(ctx.source, ctx.components)) ctx.log?.(`note: ${note}`)
  await verified(ctx, progress, release.images, env)
  const outcome = await progress.step('deploy', undefined, () => deployRelease(kube, { env, ...release, commit: ctx.commit, origin: 'deploy', required, secrets: values, timeoutSeconds, log: ctx.log }))
  return outcomeLine(outcome, 'deployed')
}

/** Rollback: the recorded manifest of an earlier release (default: the one before the current), verified, applied again. */
export async function rollbackEnvironment(ctx: DeployContext, envName: string, kubeconfig: Secret, to: number, timeoutSeconds: number, service?: Service): Promise<string> {
  const env = environment(envName)
  const kube = await cluster(env, kubeconfig, service)
  const target = rollbackTarget(await readReleases(kube, env.namespace), env.name, to || undefined)
  const manifest = await readManifest(kube, env.namespace, target.revision)
  const progress = phases(ctx)
  await verified(ctx, progress, target.images, env)
  const required = await requiredSecrets(ctx.source, env, ctx.components)
  const outcome = await progress.step('deploy', undefined, () => deployRelease(kube, {
    env, manifest, images: target.images, commit: target.commit, origin: `rollback to ${target.revision}`, required, timeoutSeconds, log: ctx.log,
  }))
  return outcomeLine(outcome, `rolled back to release ${target.revision} in`)
}

/** History: the releases of an environment, newest first. */
export async function environmentHistory(envName: string, kubeconfig: Secret, service?: Service): Promise<string> {
  const env = environment(envName)
  const kube = await cluster(env, kubeconfig, service)
  return formatHistory(await readReleases(kube, env.namespace), env.name)
}

/** Promote: exactly the digests running in `from`, rendered for `to` and deployed there, with no rebuild. */
export async function promoteEnvironment(ctx: DeployContext, fromName: string, toName: string, kubeconfig: Secret, fromKubeconfig: Secret | undefined, secrets: Secret | undefined, timeoutSeconds: number, service?: Service): Promise<string> {
  const from = environment(fromName)
  const to = environment(toName)
  const values = parseSecretValues((await secretText(secrets)) ?? '')
  if (to.promotesFrom !== from.name) {
    throw new PipelineError(`cannot promote ${from.name} to ${to.name}`, `${to.name} takes its releases from ${to.promotesFrom ?? 'no other environment (it is the first)'}`,
      'promote along dev → staging → prod, one step at a time')
  }
  const target = await cluster(to, kubeconfig, service)
  const origin = fromKubeconfig ? await cluster(from, fromKubeconfig) : target
  const running = current(await readReleases(origin, from.namespace))
  if (!running) throw new PipelineError(`nothing is deployed in ${from.name}`, 'promote takes the digests of its running release', `deploy ${from.name} first`)
  // the services' digests as they run in `from`; an image its release lacks (one `to` runs and `from` does not, e.g.
  // the monitoring servers) pinned from its tag
  const progress = phases(ctx)
  const release = await progress.step('render', undefined, () => renderRelease(ctx.source, to, running.images, ctx.images.pinned, ctx.kustomizeImage, ctx.components))
  for (const note of await componentNotes(ctx.source, ctx.components)) ctx.log?.(`note: ${note}`)
  await verified(ctx, progress, release.images, to)
  const required = await requiredSecrets(ctx.source, to, ctx.components)
  const outcome = await progress.step('deploy', undefined, () => deployRelease(target, {
    env: to, ...release, commit: running.commit, origin: `promote from ${from.name} (release ${running.revision})`,
    required, secrets: values, timeoutSeconds, log: ctx.log,
  }))
  return outcomeLine(outcome, `promoted ${from.name} release ${running.revision} to`)
}
