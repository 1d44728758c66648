// The main object of the module: it only wires the steps (ci/src/steps), one function each.
import { dag, object, func, argument, type Container, type Directory, type File, type Secret, type Service } from '@dagger.io/dagger'
import { serviceConfig } from './config/services.js'
import { IMAGES, pinnedTags } from './config/images.js'
import { build as buildStep, serviceSources, type BuildOptions } from './steps/build.js'
import { test as testStep, testContainer, type TestOptions } from './steps/test.js'
import { authFor, commitTag, imageRef, publish as publishStep } from './steps/publish.js'
import { ci as ciStep } from './steps/ci.js'
import { scanGate, scanReports, type ScanOptions, type ScanSources } from './steps/scan.js'
import { sbom as sbomStep } from './steps/sbom.js'
import { sign as signStep } from './steps/sign.js'
import { assertVerified, describeVerification, verifyRelease } from './steps/attest.js'
import { publicKeyOf } from './adapters/cosign.js'
import { EnvironmentName, environment, type Environment } from './config/environments.js'
import { evidenceSummary } from './plan/attestations.js'
import { PipelineError } from './errors.js'
import { render as renderStep } from './steps/render.js'
import { imagePins, imagesFromArgs, imagesFromRefs } from './plan/images.js'
import { SERVICES, ServiceName } from './config/services.js'
import { describeLint, exporterTargets, lintGate, metricsTargets } from './steps/lint.js'
import type { DeployContext } from './steps/commands.js'

/**
 * The release side (and with it @kubernetes/client-node, a two-second import), loaded when a release function runs:
 * `ci` and the other build-side functions start without it.
 */
const releaseSteps = () => import('./steps/commands.js')
/** Backups and restore (k8s/components/backup), loaded like the release side. */
const backupSteps = () => import('./steps/backup.js')

/**
 * The delivery pipeline of GraphMemory-IDE: build, test, scan, SBOM, sign and publish the API, the dashboard and the
 * analytics service, then deploy them to Kubernetes with plan, prune, rollout health, automatic rollback and
 * promotion. Every function is one pipeline step; `ci` runs the build side, `deploy` the release side.
 */
@object()
export class GraphmemoryIde {
  source: Directory
  builderImage: string
  runtimeImage: string
  postgresImage: string
  redisImage: string
  registry: string
  commit: string
  commitTime: number
  trivyImage: string
  trivyDbRepository: string
  severity: string
  cosignImage: string
  kustomizeImage: string
  prometheusImage: string
  alertmanagerImage: string
  otelcolImage: string
  grafanaImage: string
  components: string
  postgresExporterImage: string
  redisExporterImage: string
  publicKey?: File

  /**
   * @param source the repository (services, Dockerfiles, manifests)
   * @param builderImage base image of the build stages (python3 with venv and pip)
   * @param runtimeImage base image of the runtime stage
   * @param postgresImage Postgres bound to the test suites that need it
   * @param redisImage Redis bound to the test suites that need it
   * @param registry where images are published: host[:port][/path]
   * @param commit the commit being built: image tag and revision label
   * @param commitTime commit time in Unix seconds, recorded in the images' created label
   * @param trivyImage the Trivy image that scans and writes SBOMs
   * @param trivyDbRepository OCI repository of Trivy's vulnerability database
   * @param severity severities that block a scan, comma-separated (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)
   * @param cosignImage the cosign image that signs and verifies (it needs a shell)
   * @param kustomizeImage the kustomize (v5) image that renders the manifests
   * @param prometheusImage Prometheus with promtool: lint, and the monitoring of staging and prod
   * @param alertmanagerImage Alertmanager with amtool: lint, and the monitoring of staging and prod
   * @param otelcolImage an OpenTelemetry Collector image, for lint
   * @param grafanaImage Grafana, for the monitoring of staging and prod
   * @param components extra kustomize components rendered into every environment, comma-separated folders of
   * k8s/components (e.g. lab-real-node: the lab's real node)
   * @param postgresExporterImage the Postgres exporter (postgres_exporter), for the monitoring of staging and prod
   * @param redisExporterImage the Redis exporter (redis_exporter), for the monitoring of staging and prod
   * @param publicKey the cosign public key of the pipeline's signing key: deploy, promote, rollback and verify admit
   * only images it verifies (default: derived from --signing-key when a function is given one)
   */
  constructor(
    @argument({ defaultPath: '/', ignore: ['**/node_modules', '.git', '**/__pycache__', '**/.pytest_cache', '**/.venv', '.ci-out', 'ci/sdk'] })
    source: Directory,
    builderImage: string = IMAGES.builderImage.default,
    runtimeImage: string = IMAGES.runtimeImage.default,
    postgresImage: string = IMAGES.postgresImage.default,
    redisImage: string = IMAGES.redisImage.default,
    registry = 'ghcr.io/graphmemory',
    commit = '',
    commitTime = 0,
    trivyImage: string = IMAGES.trivyImage.default,
    trivyDbRepository = 'mirror.gcr.io/aquasec/trivy-db:2',
    severity = 'CRITICAL,HIGH',
    cosignImage: string = IMAGES.cosignImage.default,
    kustomizeImage: string = IMAGES.kustomizeImage.default,
    prometheusImage: string = IMAGES.prometheusImage.default,
    alertmanagerImage: string = IMAGES.alertmanagerImage.default,
    otelcolImage: string = IMAGES.otelcolImage.default,
    grafanaImage: string = IMAGES.grafanaImage.default,
    components = '',
    postgresExporterImage: string = IMAGES.postgresExporterImage.default,
    redisExporterImage: string = IMAGES.redisExporterImage.default,
    publicKey?: File,
  ) {
    this.source = source
    this.builderImage = builderImage
    this.runtimeImage = runtimeImage
    this.postgresImage = postgresImage
    this.redisImage = redisImage
    this.registry = registry
    this.commit = commit
    this.commitTime = commitTime
    this.trivyImage = trivyImage
    this.trivyDbRepository = trivyDbRepository
    this.severity = severity
    this.cosignImage = cosignImage
    this.kustomizeImage = kustomizeImage
    this.prometheusImage = prometheusImage
    this.alertmanagerImage = alertmanagerImage
    this.otelcolImage = otelcolImage
    this.grafanaImage = grafanaImage
    this.components = components
    this.postgresExporterImage = postgresExporterImage
    this.redisExporterImage = redisExporterImage
    this.publicKey = publicKey
  }

  /** The scan settings; the repository's .trivyignore applies when it has one. */
  private async scanOptions(): Promise<ScanOptions> {
    const ignored = await this.source.exists('.trivyignore')
    return {
      trivyImage: this.trivyImage, dbRepository: this.trivyDbRepository, severity: this.severity,
      ignoreFile: ignored ? this.source.file('.trivyignore') : undefined,
    }
  }


  private get buildOptions(): BuildOptions {
    return { builderImage: this.builderImage, runtimeImage: this.runtimeImage, revision: this.commit || 'unknown', sourceDateEpoch: this.commitTime }
  }

  private get testOptions(): TestOptions {
    return { ...this.buildOptions, postgresImage: this.postgresImage, redisImage: this.redisImage }
  }

  /**
   * The runtime image of one service, built from its Dockerfile.
   * Example: dagger call build --service api
   * @param service api, analytics or dashboard
   */
  @func()
  build(service: ServiceName): Container {
    return buildStep(this.source, serviceConfig(service), this.buildOptions)
  }

  /**
   * Runs one service's test suite (its Dockerfile `test` target) with real Postgres and Redis bound as services;
   * returns the JUnit report, fails naming the failing tests.
   * Example: dagger call test --service api export --path junit.xml
   * @param service api, analytics or dashboard
   */
  @func()
  async test(service: ServiceName): Promise<File> {
    return (await testStep(this.source, serviceConfig(service), this.testOptions)).junit
  }

  /**
   * The test image of one service with its backing services bound: open a shell in it with `terminal`.
   * Example: dagger call test-env --service api terminal
   * @param service api, analytics or dashboard
   */
  @func()
  testEnv(service: ServiceName): Container {
    return testContainer(this.source, serviceConfig(service), this.testOptions)
  }

  /**
   * Builds one service and pushes it to the registry, tagged with the commit; returns the reference with its digest.
   * Example: dagger call --registry ghcr.io/acme publish --service api --username acme --password env:REGISTRY_TOKEN
   * @param service api, analytics or dashboard
   * @param username registry user
   * @param password registry password or token
   */
  @func()
  async publish(service: ServiceName, username = '', password?: Secret): Promise<string> {
    const config = serviceConfig(service)
    const ref = imageRef(this.registry, config, commitTag(this.commit))
    return publishStep(this.build(service), ref, authFor(ref, username, password))
  }

  /**
   * Scans one service: its image for vulnerable packages, its Dockerfile and the manifests for misconfigurations, its
   * source for secrets. Returns the reports (JSON and SARIF); fails listing what blocks (package, CVE, severity,
   * installed and fixed version) when a finding reaches the severity threshold.
   * Example: dagger call scan --service dashboard --report-only export --path scan
   * @param service api, analytics or dashboard
   * @param reportOnly return the reports even when a finding blocks, listing it in blocked.txt (a nightly upload to
   * code scanning, where findings become alerts); the gate of `ci` is unchanged
   */
  @func()
  async scan(service: ServiceName, reportOnly = false): Promise<Directory> {
    const run = reportOnly ? scanReports : scanGate
    return run(service, this.build(service), this.scanSources(service), await this.scanOptions())
  }

  /**
   * What the scans of a service read beside its image: the misconfiguration scan its Dockerfile and the manifests
   * a release or a cluster online is made of (a code change leaves it cached), the secret scan also every folder its
   * build reads. Not the other services' folders, so a change to one leaves their scans cached; not k8s/cluster/lab,
   * the lab's own bundles (e.g. its ingress controller on the host's network), which no release or cluster online
   * runs.
   */
  private scanSources(service: string): ScanSources {
    const config = serviceConfig(service)
    const configs = dag.directory()
      .withFile('Dockerfile', this.source.file(config.dockerfile))
      .withDirectory('k8s', this.source.directory('k8s').withoutDirectory('cluster/lab'))
    return { configs, files: serviceSources(this.source, config).withDirectory('.', configs) }
  }

  /**
   * The software bill of materials of one service's image, as CycloneDX JSON (from the scan's own analysis of the
   * image: the same packages the vulnerability scan judged).
   * Example: dagger call sbom --service analytics export --path sbom.cdx.json
   * @param service api, analytics or dashboard
   */
  @func()
  async sbom(service: ServiceName): Promise<File> {
    return sbomStep(this.build(service), await this.scanOptions())
  }

  /**
   * Signs a published image by digest with a cosign key; the signature is stored in the registry beside it.
   * Example: dagger call sign --ref ghcr.io/acme/graphmemory/api@sha256:... --key env:COSIGN_PRIVATE_KEY --key-password env:COSIGN_PASSWORD
   * @param ref the image reference with its digest (what publish returns)
   * @param key cosign private key
   * @param keyPassword password of the private key
   * @param username registry user
   * @param password registry password or token
   */
  @func()
  async sign(ref: string, key: Secret, keyPassword: Secret, username = '', password?: Secret): Promise<string> {
    return signStep(ref, key, keyPassword, authFor(ref, username, password), { cosignImage: this.cosignImage })
  }

  /**
   * What each image of a release carries and whether an environment admits it: the signature by the pipeline's key,
   * the SBOM's package count, the scan's verdict and DB, the tests, the provenance's commit; third-party images checked
   * for existing by digest. Fails listing what is refused.
   * Example: dagger call --public-key cosign.pub verify --images graphmemory/api=ghcr.io/acme/graphmemory/api@sha256:...
   * @param images the images: name=ref@sha256:... pairs, or references by digest, comma-separated (ci's images.json)
   * @param env the environment whose policy applies (dev, staging or prod)
   * @param json print the result as JSON
   * @param username registry user
   * @param password registry password or token
   */
  @func()
  async verify(images: string, env: EnvironmentName = EnvironmentName.prod, json = false, username = '', password?: Secret): Promise<string> {
    const environmentChecked = environment(env)
    const release = imagesFromRefs(images, SERVICES.map((s) => s.image))
    imagePins(release)
    const result = await verifyRelease(release, environmentChecked.policy, await this.verifyOptions(Object.values(release)[0] ?? '', username, password))
    if (json) {
      return JSON.stringify({ environment: env, ok: Object.keys(result.refused).length === 0,
        images: result.evidence.map((e) => evidenceSummary(e, environmentChecked.policy)), refused: result.refused }, null, 2)
    }
    const text = describeVerification(result, env)
    if (Object.keys(result.refused).length) assertVerified(result, env, environmentChecked.policy)
    return text
  }

  /**
   * How images are verified: the public key (given, or derived from the signing key), cosign, the registry's credentials.
   * Fails before any work when there is no key to verify with.
   */
  private async verifyOptions(ref: string, username: string, password?: Secret, signingKey?: Secret, signingPassword?: Secret) {
    const publicKey = this.publicKey ?? (signingKey && signingPassword ? publicKeyOf(this.cosignImage, signingKey, signingPassword) : undefined)
    if (!publicKey) {
      throw new PipelineError('no public key to verify images with', 'every environment admits only images signed by the pipeline\'s key',
        'pass the public key of the signing key (`dagger call --public-key cosign.pub ...`; the lab: LAB_SIGNING_PUBLIC_KEY_FILE), or the signing key itself')
    }
    return { publicKey, cosignImage: this.cosignImage, auth: authFor(ref || this.registry, username, password) }
  }

  /**
   * The whole pipeline for every service (or those named): build and test in parallel, scan, SBOM, then publish and
   * sign only when everything passed. Returns a folder with summary.txt, summary.json, images.json and each service's
   * reports; fails with the summary when any step fails.
   * Example: dagger call ci --username acme --password env:REGISTRY_TOKEN --signing-key env:COSIGN_PRIVATE_KEY --signing-password env:COSIGN_PASSWORD export --path .ci-out/ci
   * @param services comma-separated service names (default: all)
   * @param username registry user
   * @param password registry password or token; without it nothing is published
   * @param signingKey cosign private key; without it images are published unsigned
   * @param signingPassword password of the cosign private key
   */
  @func()
  async ci(services = '', username = '', password?: Secret, signingKey?: Secret, signingPassword?: Secret): Promise<Directory> {
    return ciStep({
      source: this.source,
      scan: await this.scanOptions(),
      scanSources: (service) => this.scanSources(service),
      cosignImage: this.cosignImage,
      signingKey,
      signingPassword,
      services: services ? services.split(',') : [],
      test: this.testOptions,
      registry: this.registry,
      tag: commitTag(this.commit),
      username,
      password,
      commit: this.commit,
    })
  }

  /** The extra components, as a list. */
  private get componentList(): string[] {
    return this.components.split(',').map((c) => c.trim()).filter(Boolean)
  }

  /**
   * What the deploy commands need: the source, the render image, the gate that builds images from source (`ci` for
   * the services not given, signed with the signing key), and the verification every release passes before apply.
   */
  private deployContext(username: string, password?: Secret, signingKey?: Secret, signingPassword?: Secret): DeployContext {
    const lacking = [!password && 'no registry password is given to publish them', !(signingKey && signingPassword) && 'no signing key is given (every environment refuses unsigned images)']
      .filter(Boolean).join(', and ')
    return {
      source: this.source, kustomizeImage: this.kustomizeImage, commit: this.commit, components: this.componentList,
      cannotBuild: lacking || undefined,
      images: {
        gate: async (services) => {
          const out = await this.ci(services.join(','), username, password, signingKey, signingPassword)
          const published = JSON.parse(await out.file('images.json').contents()) as Record<string, string>
          return Object.fromEntries(Object.entries(published).map(([name, ref]) => [serviceConfig(name).image, ref]))
        },
        pinned: pinnedTags(this),
        verify: async (images, env: Environment) => {
          const opts = await this.verifyOptions(imageRef(this.registry, serviceConfig('api'), 'x'), username, password, signingKey, signingPassword)
          return assertVerified(await verifyRelease(images, env.policy, opts), env.name, env.policy)
        },
      },
      log: (line) => process.stderr.write(`${line}\n`),
    }
  }

  /**
   * The manifests of an environment, rendered by kustomize with the images pinned to digests.
   * Example: dagger call render --env staging export --path staging.yaml
   * @param env dev, staging or prod (required, no default)
   * @param images name=ref@sha256:digest pairs, comma-separated (e.g. graphmemory/api=registry/api@sha256:...)
   */
  @func()
  render(env: EnvironmentName, images = ''): File {
    return renderStep(this.source.directory('k8s'), env, imagesFromArgs(images ? [images] : []), this.kustomizeImage, this.componentList, this.source.directory('monitoring'))
  }

  /**
   * What deploying would change in an environment (server-side dry run): per object create, update (with the changed
   * fields), prune or unchanged. Without images, the images running there now (so only manifest changes show).
   * Example: dagger call plan --env prod --kubeconfig file:$HOME/.kube/config
   * @param env dev, staging or prod (required, no default)
   * @param kubeconfig kubeconfig of the cluster
   * @param images name=ref@sha256:digest pairs, comma-separated
   * @param json print the plan as JSON
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   */
  @func()
  async plan(env: EnvironmentName, kubeconfig: Secret, images = '', json = false, cluster?: Service): Promise<string> {
    return (await releaseSteps()).planEnvironment(this.deployContext(''), env, kubeconfig, images, json, cluster)
  }

  /**
   * Deploys to an environment, guarded: runs ci's gate for the images not given by digest (build, tests, scan, SBOM,
   * publish, sign), verifies every image under the environment's policy, renders, plans, creates the given Secrets,
   * applies (server-side, under the environment's lock), waits for every rollout, then prunes what the last release
   * had and this one lacks, and records the release. On failure the last good release is applied again and the call
   * fails naming the object, its condition and its recent events.
   * Example: dagger call deploy --env prod --kubeconfig file:$HOME/.kube/config --password env:REGISTRY_TOKEN --signing-key env:COSIGN_PRIVATE_KEY --signing-password env:COSIGN_PASSWORD
   * @param env dev, staging or prod (required, no default)
   * @param kubeconfig kubeconfig of the cluster
   * @param secrets the environment's Secrets as YAML (<secret>: {<key>: <value>}); required once, kept after
   * @param images name=ref@sha256:digest pairs, comma-separated; the others are built and published
   * @param username registry user (for publishing)
   * @param password registry password or token (for publishing)
   * @param timeout seconds every rollout may take
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   * @param signingKey cosign private key the gate signs the images it builds with (needed to deploy from source)
   * @param signingPassword password of the cosign private key
   */
  @func()
  async deploy(env: EnvironmentName, kubeconfig: Secret, secrets?: Secret, images = '', username = '', password?: Secret, timeout = 300, cluster?: Service,
    signingKey?: Secret, signingPassword?: Secret): Promise<string> {
    return (await releaseSteps()).deployEnvironment(this.deployContext(username, password, signingKey, signingPassword), env, kubeconfig, secrets, images, timeout, cluster)
  }

  /**
   * Rolls an environment back to an earlier release (default: the one before the current), from its recorded manifest.
   * Example: dagger call --public-key cosign.pub rollback --env prod --kubeconfig file:$HOME/.kube/config
   * @param env dev, staging or prod (required, no default)
   * @param kubeconfig kubeconfig of the cluster
   * @param to the release number to restore (see history); 0 means the previous good one
   * @param timeout seconds every rollout may take
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   * @param username registry user (to read the images' signatures)
   * @param password registry password or token (to read the images' signatures)
   * @param signingKey the pipeline's cosign private key: its public key verifies the images (or give --public-key)
   * @param signingPassword password of the cosign private key
   */
  @func()
  async rollback(env: EnvironmentName, kubeconfig: Secret, to = 0, timeout = 300, cluster?: Service, username = '', password?: Secret,
    signingKey?: Secret, signingPassword?: Secret): Promise<string> {
    return (await releaseSteps()).rollbackEnvironment(this.deployContext(username, password, signingKey, signingPassword), env, kubeconfig, to, timeout, cluster)
  }

  /**
   * The releases of an environment, newest first: status, time, commit, origin and digests.
   * Example: dagger call history --env prod --kubeconfig file:$HOME/.kube/config
   * @param env dev, staging or prod (required, no default)
   * @param kubeconfig kubeconfig of the cluster
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   */
  @func()
  async history(env: EnvironmentName, kubeconfig: Secret, cluster?: Service): Promise<string> {
    return (await releaseSteps()).environmentHistory(env, kubeconfig, cluster)
  }

  /**
   * Backs an environment up now (a Job from its backup CronJob: Postgres and the graph, verified, old ones expired).
   * Example: dagger call backup --env prod --kubeconfig file:$HOME/.kube/config
   * @param env dev, staging or prod (required, no default)
   * @param kubeconfig kubeconfig of the cluster
   * @param timeout seconds the backup may take
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   */
  @func()
  async backup(env: EnvironmentName, kubeconfig: Secret, timeout = 900, cluster?: Service): Promise<string> {
    const steps = await backupSteps()
    return steps.backupNow(await steps.backupCluster(kubeconfig, cluster), env, timeout)
  }

  /**
   * The backups of an environment, newest first: name, time, size, status (complete or incomplete).
   * Example: dagger call backups --env prod --kubeconfig file:$HOME/.kube/config
   * @param env dev, staging or prod (required, no default)
   * @param kubeconfig kubeconfig of the cluster
   * @param json the list as JSON
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   */
  @func()
  async backups(env: EnvironmentName, kubeconfig: Secret, json = false, cluster?: Service): Promise<string> {
    const steps = await backupSteps()
    return steps.listBackups(await steps.backupCluster(kubeconfig, cluster), env, json)
  }

  /**
   * Restores an environment from a backup, under its deploy lock: the backup verified first (a missing or corrupt one
   * is refused with nothing changed), then Postgres (one transaction) and the graph (swapped in).
   * Example: dagger call restore --env prod --from latest --kubeconfig file:$HOME/.kube/config
   * @param env dev, staging or prod: whose backups (required, no default)
   * @param kubeconfig kubeconfig of the cluster
   * @param from latest, or a backup's name (see backups), e.g. 20261205T093000Z
   * @param namespace restore into this (deployed) namespace instead of the environment's own: a drill
   * @param timeout seconds each of the verify and restore Jobs may take
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   */
  @func()
  async restore(env: EnvironmentName, kubeconfig: Secret, from = 'latest', namespace = '', timeout = 900, cluster?: Service): Promise<string> {
    const steps = await backupSteps()
    return steps.restoreEnvironment(await steps.backupCluster(kubeconfig, cluster), env, from, namespace, timeout)
  }

  /**
   * Promotes a release: deploys to `to` exactly the digests running in `from` (dev → staging → prod), no rebuild.
   * Example: dagger call --public-key cosign.pub promote --from staging --to prod --kubeconfig file:$HOME/.kube/config
   * @param from the environment whose running release is promoted
   * @param to the next environment
   * @param kubeconfig kubeconfig of the cluster of `to`
   * @param fromKubeconfig kubeconfig of the cluster of `from`, when it is another cluster
   * @param secrets the Secrets of `to` as YAML (<secret>: {<key>: <value>}), when they are not there yet
   * @param timeout seconds every rollout may take
   * @param cluster the API server when the kubeconfig's address is on your loopback (module mode): tcp://localhost:6443
   * @param username registry user (to read the images' signatures)
   * @param password registry password or token (to read the images' signatures)
   * @param signingKey the pipeline's cosign private key: its public key verifies the images (or give --public-key)
   * @param signingPassword password of the cosign private key
   */
  @func()
  async promote(from: EnvironmentName, to: EnvironmentName, kubeconfig: Secret, fromKubeconfig?: Secret, secrets?: Secret, timeout = 300, cluster?: Service,
    username = '', password?: Secret, signingKey?: Secret, signingPassword?: Secret): Promise<string> {
    return (await releaseSteps()).promoteEnvironment(this.deployContext(username, password, signingKey, signingPassword), from, to, kubeconfig, fromKubeconfig, secrets, timeout, cluster)
  }

  /**
   * Lints the monitoring files with the real tools and against the real services: promtool check config, check rules
   * and test rules; amtool check-config and the routing cases; the collector's validate; every PromQL expression of the
   * rules and dashboards parsed; every alert's severity, summary and runbook; every metric a rule or panel names
   * checked against the /metrics pages of the three services' images (run as services). Fails listing each problem
   * as file:line.
   * Example: dagger call lint
   * @param otelcolConfigs collector configs to validate, comma-separated (default: every monitoring/logging/otelcol*.yaml)
   */
  @func()
  async lint(otelcolConfigs = ''): Promise<string> {
    const result = await lintGate(this.source, {
      prometheusImage: this.prometheusImage, alertmanagerImage: this.alertmanagerImage, otelcolImage: this.otelcolImage,
      otelcolConfigs: otelcolConfigs ? otelcolConfigs.split(',').map((s) => s.trim()) : undefined,
      targets: [
        ...metricsTargets(SERVICES, (name) => this.build(name as ServiceName)),
        ...exporterTargets({
          postgres: this.postgresImage, redis: this.redisImage, postgresExporter: this.postgresExporterImage,
          redisExporter: this.redisExporterImage, client: this.runtimeImage,
        }),
      ],
    })
    return describeLint(result)
  }
}
