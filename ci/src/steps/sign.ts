// Step: sign a published image by digest with cosign, and verify a signature with a public key.
import type { File, Secret } from '@dagger.io/dagger'
import { cosignFailure, signImage, verifyImage } from '../adapters/cosign.js'
import { registryOf, type RegistryAuth } from '../adapters/registry.js'
import { PipelineError } from '../errors.js'

/** How to sign and verify. */
export interface SignOptions {
  /** cosign image with a shell (online: the official `-dev` image, pinned; the lab: LAB_IMAGE_COSIGN). */
  cosignImage: string
}

/** How a registry says no to credentials. */
const AUTH_FAILURE = /UNAUTHORIZED|authentication required|\b401\b|\b403\b|DENIED/i

const BY_DIGEST = /^[^@\s]+@sha256:[0-9a-f]{64}$/

function byDigest(ref: string, action: string): void {
  if (!BY_DIGEST.test(ref)) {
    throw new PipelineError(`cannot ${action} ${ref}`, 'only a reference by digest (name@sha256:...) names exactly one image',
      'pass the reference publish returned (it ends with @sha256:<digest>)')
  }
}

/**
 * Signs the image `ref` (by digest) with a cosign private key and its password, both Secrets; the signature is stored
 * in the registry beside the image (credentials `auth`, password as Secret). Returns the signed reference.
 */
export async function sign(ref: string, key: Secret, keyPassword: Secret, auth: RegistryAuth | undefined, opts: SignOptions): Promise<string> {
  byDigest(ref, 'sign')
  try {
    return await signImage(opts.cosignImage, ref, key, keyPassword, auth)
  } catch (err) {
    const out = cosignFailure(err, ref)
    if (out === undefined) throw err
    const registry = registryOf(ref)
    if (AUTH_FAILURE.test(out)) {
      throw new PipelineError(`signing ${ref} failed`, `${registry} refused the credentials given (it answered ${out.match(AUTH_FAILURE)?.[0]})`,
        `check the username and the password secret given for ${registry}`)
    }
    const fix = /decrypt|password|encrypted/i.test(out)
      ? 'check that the key password secret belongs to this private key'
      : 'fix the cause above and run the step again'
    throw new PipelineError(`signing ${ref} failed`, out, fix)
  }
}

/**
 * Verifies that `ref` (by digest) carries a signature made with the private key of `publicKey`. Returns a one-line
 * message; fails with a clear message when no signature verifies (wrong key, unsigned image).
 */
export async function verify(ref: string, publicKey: File, auth: RegistryAuth | undefined, opts: SignOptions): Promise<string> {
  byDigest(ref, 'verify')
  let payloads: string
  try {
    payloads = await verifyImage(opts.cosignImage, ref, publicKey, auth)
  } catch (err) {
    const out = cosignFailure(err, ref)
    if (out === undefined) throw err
    if (AUTH_FAILURE.test(out)) {
      throw new PipelineError(`signature check of ${ref} failed`, `${registryOf(ref)} refused the credentials given`,
        `check the username and the password secret given for ${registryOf(ref)}`)
    }
    const why = `no signature of it verifies with the public key given (cosign: ${out})`
    throw new PipelineError(`signature check of ${ref} failed`, why,
      'verify with the public key of the key pair that signed this image, or sign the image (sign step) and verify again')
  }
  const count = payloads.trim() ? (JSON.parse(payloads) as unknown[]).length : 0
  return `signature of ${ref} verified with the public key given (${count} signature${count === 1 ? '' : 's'}, transparency log not consulted)`
}
