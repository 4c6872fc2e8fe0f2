/**
 * One stage of the table as a Lambda function, with what every stage shares: the runtime, the
 * architecture, its own log group with the environment's retention, memory and timeout from the table,
 * and the code from its prebuilt bundle (no bundling or Docker at synth). Its role may write its own log
 * group and nothing else until grants.ts adds the table's rights (no AWSLambdaBasicExecutionRole, whose
 * log rights cover every group in the account).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { resourceName, type StageSpec } from '../stages';
import { stageBundle } from './bundle';
import type { EnvironmentSettings } from './settings';

/** scripts/build.mjs targets node22, and Yandex Cloud Functions has nodejs22 only: the same runtime here. */
export const STAGE_RUNTIME = lambda.Runtime.NODEJS_22_X;
/** x86_64: the one native addon (@napi-rs/blake-hash) is installed here for linux-x64. */
export const STAGE_ARCHITECTURE = lambda.Architecture.X86_64;

export interface StageFunctionProps {
  stage: StageSpec;
  /** The repository's root: bundles are under dist/functions/. */
  root: string;
  settings: EnvironmentSettings;
  environment: Record<string, string>;
  /** Reserved concurrency (its ceiling and its floor); none when unset. */
  reservedConcurrency?: number;
}

export class StageFunction extends Construct {
  readonly fn: lambda.Function;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: StageFunctionProps) {
    super(scope, id);
    const { stage, settings } = props;
    const name = resourceName(settings.prefix, stage.name);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${name}`,
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: settings.removal === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    const bundle = stageBundle(props.root, stage, this);
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `zapas ${stage.name}: its function's role`,
    });
    // CreateLogStream and PutLogEvents on this group's ARN only (the group exists: Lambda need not create it).
    this.logGroup.grantWrite(role);
    this.fn = new lambda.Function(this, 'Function', {
      functionName: name,
      description: stage.purpose.slice(0, 256),
      runtime: STAGE_RUNTIME,
      architecture: STAGE_ARCHITECTURE,
      code: lambda.Code.fromAsset(bundle.dir),
      handler: bundle.handler,
      memorySize: stage.memoryMiB,
      timeout: Duration.seconds(stage.timeoutSeconds),
      environment: props.environment,
      logGroup: this.logGroup,
      role,
      reservedConcurrentExecutions: props.reservedConcurrency,
    });
    NagSuppressions.addResourceSuppressions(this.fn, [
      {
        id: 'AwsSolutions-L1',
        reason: `Node.js 22 on purpose: scripts/build.mjs targets node22 and Yandex Cloud Functions offers nodejs22 only, so one bundle of ${stage.name} runs in both clouds; move STAGE_RUNTIME with the build target`,
      },
    ]);
  }
}
