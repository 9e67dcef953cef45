/**
 * Model weights named by a Hugging Face hub id (`timm/resnet34d.ra2_in1k`), as huggingface_hub
 * resolves them: `${HF_ENDPOINT}/{repo}/resolve/{revision}/{file}`, the endpoint from the
 * environment (default https://huggingface.co), a token from HF_TOKEN when set.
 */
export const HF_DEFAULT_ENDPOINT = "https://huggingface.co"
export const HF_WEIGHTS_FILE = "model.safetensors"

/** `owner/name` (optionally `hf://owner/name[@revision]`): a hub repository id. */
const HUB_ID = /^(?:hf:\/\/)?([A-Za-z0-9][\w.-]*\/[\w.-]+?)(?:@([\w.-]+))?$/

export interface HubRef {
  readonly repo: string
  readonly revision: string
}

/**
 * A hub reference, when `value` is one: an explicit `hf://` id always, a bare `owner/name` only when
 * no file of that name exists (`existsAsFile` answers for the caller's folder).
 */
export const parseHubRef = (value: string, existsAsFile: (p: string) => boolean): HubRef | undefined => {
  if (value === "" || (!value.startsWith("hf://") && existsAsFile(value))) return undefined
  const m = HUB_ID.exec(value)
  if (!m) return undefined
  if (!value.startsWith("hf://") && /\.(safetensors|bin|pth|pt)$/.test(m[1]!)) return undefined // a missing file, not an id
  return { repo: m[1]!, revision: m[2] ?? "main" }
}

export const hubFileUrl = (ref: HubRef, file: string = HF_WEIGHTS_FILE, endpoint: string = process.env.HF_ENDPOINT ?? HF_DEFAULT_ENDPOINT): string =>
  `${endpoint.replace(/\/+$/, "")}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${file}`

/** Request headers for the hub: a bearer token when HF_TOKEN is set. */
export const hubHeaders = (): Record<string, string> => (process.env.HF_TOKEN ? { Authorization: `Bearer ${process.env.HF_TOKEN}` } : {})
