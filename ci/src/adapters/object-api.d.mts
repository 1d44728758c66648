import * as k8s from '@kubernetes/client-node'

export interface ApplyExactOptions {
  /** The field manager recorded in managedFields. */
  fieldManager: string
  /** Take over fields owned by other managers (default true). */
  force?: boolean
  /** Server-side dry run (default false). */
  dryRun?: boolean
  /** What the server does with unknown or duplicated fields (default Strict). */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore'
  /** Apply to this subresource (e.g. 'status') instead of the object. */
  subresource?: string
}

export declare class ObjectApi extends k8s.KubernetesObjectApi {
  static forConfig(kc: k8s.KubeConfig): ObjectApi
  applyExact<T extends k8s.KubernetesObject>(obj: T, opts: ApplyExactOptions): Promise<T>
}
