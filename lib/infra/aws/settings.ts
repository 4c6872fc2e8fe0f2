/**
 * A deployment environment's settings (dev, prod) from the CDK context: `environments.<name>` in cdk.json,
 * chosen by `-c env=<name>` (dev when unset). Everything that differs between environments is here, typed,
 * so the stacks take props and never read the context themselves.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { audienceProblem, httpsUrlProblem } from '../auth';
import { DeploymentError } from './errors';

const RETENTION_DAYS = Object.values(RetentionDays).filter((v): v is number => typeof v === 'number');

const days = z.number().int().positive();

/** API Gateway's stage throttling when the environment does not set it: requests per second, and burst. */
export const DEFAULT_THROTTLE = { rateLimit: 50, burstLimit: 100 } as const;
/** Reserved concurrency of each function the API can start, unless `api.reservedConcurrency` names it. */
export const DEFAULT_RESERVED_CONCURRENCY = 10;

const problem = (check: (v: unknown) => string | undefined) => (v: string, ctx: z.RefinementCtx) => {
  const why = check(v);
  if (why) ctx.addIssue({ code: 'custom', message: why });
};

const authSchema = z.strictObject({
  /** The OpenID Connect issuer, exactly as the tokens' `iss` (API Gateway finds the keys from its discovery document). */
  issuer: z.string().superRefine(problem(httpsUrlProblem)),
  /** The audience the tokens' `aud` must name. */
  audience: z.string().superRefine(problem(audienceProblem)),
});

const apiSchema = z.strictObject({
  /** Steady requests per second the API's stage lets through (beyond: 429). */
  throttleRateLimit: z.number().positive().max(10_000).optional(),
  /** Requests the stage lets through at once. */
  throttleBurstLimit: z.number().int().positive().max(5_000).optional(),
  /** Reserved concurrency per function the API can start, by stage name (the rest get the default). */
  reservedConcurrency: z.record(z.string(), z.number().int().min(1).max(1000)).optional(),
});

const environmentSchema = z.strictObject({
  /** destroy: the stack's removal deletes buckets (emptied first), table and key; retain: they stay. */
  removal: z.enum(['destroy', 'retain']),
  /** S3 Object Lock on the repository bucket: every new object version is locked for `days`. */
  objectLock: z.strictObject({ mode: z.enum(['COMPLIANCE', 'GOVERNANCE']), days }).optional(),
  /** Repository objects move to Intelligent-Tiering after this many days. */
  coldTierAfterDays: days,
  /** Replaced or deleted repository object versions are removed after this many days. */
  noncurrentVersionDays: days,
  /** Landing objects (platform exports) expire after this many days, whether ingested or not. */
  landingExpiryDays: days,
  logRetentionDays: days.refine((d) => RETENTION_DAYS.includes(d), {
    message: `one of CloudWatch's retention periods: ${RETENTION_DAYS.join(', ')}`,
  }),
  /** NAT gateways of the agent's VPC (one per AZ for availability; one is enough for dev). */
  natGateways: z.number().int().min(0).max(3),
  /** Receives the alarms (an SNS e-mail subscription, confirmed by the recipient). */
  alarmEmail: z.email().optional(),
  /** The HTTP API's JWT authorizer: required, so that no environment deploys an open API. */
  auth: authSchema,
  /** The HTTP API's throttling and the reserved concurrency of what it starts (defaults above). */
  api: apiSchema.optional(),
  account: z
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  region: z.string().optional(),
});

export type EnvironmentSettings = z.infer<typeof environmentSchema> & {
  /** The environment's name, e.g. dev. */
  name: string;
  /** Prefix of every resource name: zapas-<name>. */
  prefix: string;
};

export const DEFAULT_ENVIRONMENT = 'dev';

/** The settings of environment `name` from the context value `environments`. */
export function environmentSettings(
  environments: unknown,
  name: string = DEFAULT_ENVIRONMENT,
): EnvironmentSettings {
  if (!environments || typeof environments !== 'object')
    throw new DeploymentError(
      'the CDK context has no "environments" object (cdk.json: context.environments)',
    );
  const known = Object.keys(environments);
  const raw = (environments as Record<string, unknown>)[name];
  if (raw === undefined)
    throw new DeploymentError(
      `no environment "${name}" in context.environments (known: ${known.join(', ')})`,
    );
  if (raw && typeof raw === 'object' && !('auth' in raw))
    throw new DeploymentError(
      `context.environments.${name}.auth is missing: the HTTP API needs a JWT authorizer, { "issuer": "https://<your OpenID Connect issuer>", "audience": "<aud of its tokens>" } (docs/deploy-aws.md)`,
    );
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success)
    throw new DeploymentError(
      `context.environments.${name}: ${parsed.error.issues
        .map((i) => `${i.path.join('.') || '(the object)'}: ${i.message}`)
        .join('; ')}`,
    );
  if (parsed.data.objectLock && parsed.data.removal === 'destroy')
    throw new DeploymentError(
      `context.environments.${name}: objectLock with removal "destroy": locked object versions cannot be deleted, so the bucket cannot be emptied; use removal "retain" or no objectLock`,
    );
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(name))
    throw new DeploymentError(`environment name "${name}": lowercase letters, digits and dashes, up to 16`);
  return { ...parsed.data, name, prefix: `zapas-${name}` };
}
