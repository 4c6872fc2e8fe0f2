/**
 * The agent: a Fargate task definition for the heavy steps (pg_basebackup, pg_dump, file walks), run by
 * orchestrate with ecs:RunTask in a cluster of its own, in the private subnets of a VPC whose only way out
 * is NAT — plus gateway endpoints for S3 and DynamoDB, so backup data does not pay NAT per gigabyte.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IgnoreMode, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { AGENT, resourceName } from '../stages';
import { DeploymentError } from './errors';
import type { AgentPlacement } from './resources';
import type { EnvironmentSettings } from './settings';

/** The container's name: RunTask's overrides (the job id) address it. */
export const AGENT_CONTAINER = 'agent';
/** Fargate counts CPU in 1/1024 of a vCPU; the table counts vCPUs. */
const CPU_UNITS_PER_VCPU = 1024;
const MAX_AZS = 2;
/** What the image's build context leaves out (a .dockerignore in the root adds to it). */
const IMAGE_CONTEXT_EXCLUDE = [
  '.git',
  '**/node_modules',
  'cdk.out',
  '.tmp',
  'coverage',
  'bench/work*',
  '*.log',
];

/**
 * The agent's image: a prebuilt one when `uri` is given (no Docker needed at deploy), else built at deploy
 * from the Dockerfile with the repository root as the context. Synth only stages the context.
 */
export function agentImage(root: string, uri?: string): ecs.ContainerImage {
  if (uri) return ecs.ContainerImage.fromRegistry(uri);
  if (!existsSync(join(root, AGENT.dockerfile)))
    throw new DeploymentError(
      `${AGENT.dockerfile} is missing: the agent image is built from it (or give a prebuilt one: -c agentImage=<uri>)`,
    );
  return ecs.ContainerImage.fromAsset(root, {
    file: AGENT.dockerfile,
    exclude: IMAGE_CONTEXT_EXCLUDE,
    ignoreMode: IgnoreMode.DOCKER,
  });
}

export interface AgentTaskProps {
  settings: EnvironmentSettings;
  image: ecs.ContainerImage;
}

export class AgentTask extends Construct implements AgentPlacement {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;
  readonly subnets: ec2.ISubnet[];

  constructor(scope: Construct, id: string, props: AgentTaskProps) {
    super(scope, id);
    const { settings } = props;
    const name = resourceName(settings.prefix, AGENT.name);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: MAX_AZS,
      natGateways: settings.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
        {
          name: 'agents',
          subnetType:
            settings.natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED,
        },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    const removalPolicy = settings.removal === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    // Every connection in and out of the agents' VPC (accepted and rejected), kept as long as the logs.
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      logGroupName: `/zapas/${name}-vpc-flow`,
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    this.subnets = this.vpc.selectSubnets({ subnetGroupName: 'agents' }).subnets;
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: name,
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    // Out to the sources (PostgreSQL hosts anywhere the platform runs them), AWS APIs and the image registry.
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'zapas agent tasks: outbound only',
      allowAllOutbound: true,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/zapas/${name}`,
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      family: name,
      cpu: AGENT.cpu * CPU_UNITS_PER_VCPU,
      memoryLimitMiB: AGENT.memoryMiB,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
      },
    });
    this.container = this.taskDefinition.addContainer('Agent', {
      containerName: AGENT_CONTAINER,
      image: props.image,
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: AGENT.name, logGroup: this.logGroup }),
    });
    NagSuppressions.addResourceSuppressions(this.taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'the environment holds names and ARNs (tables, buckets, queues, the password secret) and the validated configuration, never a secret: the password is read from Secrets Manager by ARN at start (lib/infra/aws/environment.ts)',
      },
    ]);
    // Made by the image's and the log driver's grants above: ECR's authorization token has no resource.
    NagSuppressions.addResourceSuppressions(
      this.taskDefinition.obtainExecutionRole(),
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecr:GetAuthorizationToken, which ECS needs to pull the agent image, supports no resource but "*"; the pull itself (ecr:BatchGetImage, GetDownloadUrlForLayer) is on the image repository only',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
  }

  /** Sets the agent's environment (known only once the other parts exist). */
  setEnvironment(environment: Record<string, string>): void {
    for (const [key, value] of Object.entries(environment)) this.container.addEnvironment(key, value);
  }
}
