/** The CDK app's errors: a deployment that cannot be built says which setting or schedule is wrong. */

/** A deployment setting (cdk.json context, the stage table) that the AWS app cannot use. */
export class DeploymentError extends Error {
  override readonly name: string = 'DeploymentError';
}

/** A five-field cron that has no EventBridge equivalent, or is not a cron at all. */
export class CronConversionError extends DeploymentError {
  override readonly name = 'CronConversionError';
}
