/**
 * The configuration's `auth:` (who issues the bearer tokens the API accepts, and where their keys are)
 * and `access:` (rules narrowing the roles per source or data class) sections: their shapes. That a rule
 * names sources and data classes the file defines is checked where the whole file is (the pipeline's
 * config loader).
 */
import { z } from 'zod';
import { PROTOTYPE_NAMES } from './names';
import { ACTIONS } from './permissions';
import { ROLES } from './principal';

/** Where the token issuer's public keys are: a JWKS file, or a URL serving one. */
export type JwksLocation = { kind: 'file'; path: string } | { kind: 'url'; url: URL };

/**
 * Hosts an `http://` JWKS URL may name: literal loopback addresses only (a key set served in the clear
 * over a network could be swapped on the way, and with it every token accepted). It exists for tests
 * and for an issuer running on the same machine.
 */
export function isLoopbackHost(hostname: string): boolean {
  return /^127(\.\d{1,3}){3}$/.test(hostname) || hostname === '[::1]';
}

/**
 * Reads the `jwks` setting: an `https://` URL, an `http://` URL of a loopback address, or else a file
 * path (relative paths are relative to the configuration file). Throws with what is wrong.
 */
export function jwksLocation(text: string): JwksLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'file', path: text };
  if (scheme !== 'https' && scheme !== 'http')
    throw new Error(`a JWKS file path or an https:// URL, not a ${scheme}: URL`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('not a valid URL');
  }
  if (url.username || url.password) throw new Error('the URL must not hold a user name or password');
  if (scheme === 'http' && !isLoopbackHost(url.hostname))
    throw new Error('http:// is allowed only for a loopback address (127.0.0.1, [::1]): use https://');
  return { kind: 'url', url };
}

export const authSettingsSchema = z
  .object({
    /** The tokens' `iss`: exactly this. */
    issuer: z.string().min(1, 'the issuer the tokens name in their "iss" claim'),
    /** The tokens' `aud` must be or include this. */
    audience: z.string().min(1, 'the audience the tokens name in their "aud" claim'),
    /** The issuer's public keys: a JWKS file (relative to the configuration file) or an https:// URL. */
    jwks: z
      .string()
      .min(1, 'a JWKS file path or an https:// URL')
      .superRefine((text, ctx) => {
        try {
          jwksLocation(text);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    /** The repository whose master key seals the second factors (docs/security.md, Step-up); default: the first. */
    keyRepository: z
      .string()
      .min(1)
      .superRefine((text, ctx) => refusePrototypeName(text, 'repository', ctx))
      .optional(),
  })
  .strict();

/** A name a rule gives (a source, a data class): never one every object has. */
const ruleName = (what: string) =>
  z
    .string()
    .min(1)
    .superRefine((text, ctx) => refusePrototypeName(text, what, ctx));

function refusePrototypeName(text: string, what: string, ctx: z.RefinementCtx): void {
  if (PROTOTYPE_NAMES.has(text))
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" cannot be a ${what} name: every JavaScript object has a property of that name`,
    });
}

const oneOf = <T extends readonly [string, ...string[]]>(what: string, values: T) =>
  z.enum(values, {
    error: (issue) => `unknown ${what} ${JSON.stringify(issue.input)} (one of ${values.join(', ')})`,
  });

export const accessRuleSchema = z
  .object({
    /** Sources the rule is for. */
    sources: z.array(ruleName('source')).min(1).optional(),
    /** Data classes the rule is for (every source of such a class). */
    dataClasses: z.array(ruleName('data class')).min(1).optional(),
    /** Roles the rule lets do `allow` there (what a role may do at all is the permission table's). */
    roles: z.array(oneOf('role', ROLES)).min(1, 'at least one role'),
    allow: z.array(oneOf('action', ACTIONS)).min(1, 'at least one action'),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.sources === undefined && rule.dataClasses === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'a rule names the sources or the dataClasses it is for',
      });
  });

/** The `access:` list: when present, roles other than admin act on a source only where a rule allows it. */
export const accessRulesSchema = z.array(accessRuleSchema);

export type AuthSettings = z.output<typeof authSettingsSchema>;
export type AccessRuleSettings = z.output<typeof accessRuleSchema>;
