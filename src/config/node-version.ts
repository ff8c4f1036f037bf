/**
 * Node.js lines outbox-relay supports in production: 22 and 24 (LTS). Node 20 is past its end of
 * life; it still runs the code (the development machine and CI's second Node run on it), but the
 * AWS SDK prints a nine-line NodeVersionSupportWarning on it for every process. That warning is
 * replaced by one line of our own where it matters: the relay and consumer log it at start, and
 * `outbox doctor` reports it. It never reaches standard output.
 */
export const SUPPORTED_NODE_MAJORS = [22, 24] as const;

export interface NodeSupport {
  version: string;
  major: number;
  supported: boolean;
  /** One line for logs and `outbox doctor`; null on a supported Node. */
  warning: string | null;
}

export function nodeSupport(version: string = process.version): NodeSupport {
  const major = Number(/^v?(\d+)/.exec(version)?.[1] ?? 0);
  const supported = major >= SUPPORTED_NODE_MAJORS[0];
  return {
    version,
    major,
    supported,
    warning: supported ? null : `Node ${version} is past its end of life: run outbox-relay on Node ${SUPPORTED_NODE_MAJORS.join(' or ')} (LTS) in production.`,
  };
}

/** Silences the AWS SDK's own warning on an unsupported Node (we report it once, our way). Call before any AWS client exists. */
export function quietAwsSdkNodeWarning(env: NodeJS.ProcessEnv = process.env): void {
  if (!nodeSupport().supported && env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
}
