// What the cluster-owner bundle tests ask the API server: a dry-run apply, and the words of a refusal.
import * as k8s from '@kubernetes/client-node'

/** Server-side apply with dryRun=All: everything the API server checks, nothing stored. */
export const dryApply = (c: { objects: k8s.KubernetesObjectApi }, obj: any) =>
  c.objects.patch(obj, undefined, 'All', 'graphmemory-lab-test', true, k8s.PatchStrategy.ServerSideApply)

/** The API server's words for a refused request; fails when the request was accepted. */
export async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err: any) {
    const body = typeof err?.body === 'string' ? JSON.parse(err.body) : err?.body
    return `${err?.code} ${body?.reason}: ${body?.message}`
  }
  throw new Error('the request was accepted')
}
