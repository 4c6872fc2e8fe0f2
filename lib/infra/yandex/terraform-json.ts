/**
 * Terraform's JSON configuration syntax (https://developer.hashicorp.com/terraform/language/syntax/json),
 * the little of it the Yandex writer needs: expressions, literal text, block labels, and the document.
 *
 * In that syntax every JSON string is a template: `${…}` interpolates and `%{…}` is a directive. So an
 * expression is written as `${expression}`, and text that comes from outside (the configuration) must have
 * both sequences escaped, or a `${HOME}` in an exclude pattern would become a reference.
 */

/** A value in the document: JSON, with expressions inside strings. */
export type TfValue = string | number | boolean | TfValue[] | { [key: string]: TfValue };
/** A block body: attributes and nested blocks (an object, or an array of objects for repeated blocks). */
export type TfBlock = { [key: string]: TfValue };

/** `${expression}`: an expression inside a JSON string. */
export function expr(expression: string): string {
  return `\${${expression}}`;
}

/** A resource's attribute as an expression: `ref('yandex_function', 'api', 'id')` → `${yandex_function.api.id}`. */
export function ref(type: string, label: string, attribute: string): string {
  return expr(`${type}.${label}.${attribute}`);
}

/** A resource's address, as `depends_on` lists it. */
export function address(type: string, label: string): string {
  return `${type}.${label}`;
}

/** Text that Terraform must keep as it is: `${` and `%{` escaped as `$${` and `%%{`. */
export function literal(text: string): string {
  // Replacement functions: in a replacement string, `$$` would itself mean one `$`.
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

/** A block label from parts: letters, digits and underscores (`ingest-dlq` → `ingest_dlq`). */
export function label(...parts: string[]): string {
  return parts.join('_').replace(/[^A-Za-z0-9_]/g, '_');
}

/** The document being written: blocks by kind, each label once, in the order they were added. */
export class TerraformDocument {
  private readonly blocks = {
    terraform: {} as TfBlock,
    provider: {} as Record<string, TfBlock>,
    variable: {} as Record<string, TfBlock>,
    data: {} as Record<string, Record<string, TfBlock>>,
    resource: {} as Record<string, Record<string, TfBlock>>,
    output: {} as Record<string, TfBlock>,
  };

  /** The top `terraform` block (required providers and version). */
  settings(body: TfBlock): void {
    Object.assign(this.blocks.terraform, body);
  }

  provider(name: string, body: TfBlock): void {
    this.blocks.provider[name] = body;
  }

  variable(name: string, body: TfBlock): string {
    once(this.blocks.variable, name, `variable ${name}`)[name] = body;
    return expr(`var.${name}`);
  }

  /** Adds a resource; returns its address. */
  resource(type: string, name: string, body: TfBlock): string {
    once(this.byType(this.blocks.resource, type), name, address(type, name))[name] = body;
    return address(type, name);
  }

  data(type: string, name: string, body: TfBlock): void {
    once(this.byType(this.blocks.data, type), name, `data.${type}.${name}`)[name] = body;
  }

  output(name: string, body: TfBlock): void {
    once(this.blocks.output, name, `output ${name}`)[name] = body;
  }

  /** Number of resources (data sources not counted). */
  get resourceCount(): number {
    return Object.values(this.blocks.resource).reduce((n, byName) => n + Object.keys(byName).length, 0);
  }

  private byType(blocks: Record<string, Record<string, TfBlock>>, type: string): Record<string, TfBlock> {
    blocks[type] ??= {};
    return blocks[type];
  }

  toJSON(): TfBlock {
    const out: TfBlock = {};
    for (const [kind, body] of Object.entries(this.blocks))
      if (Object.keys(body).length > 0) out[kind] = body as TfValue;
    return out;
  }
}

function once<T>(map: Record<string, T>, name: string, what: string): Record<string, T> {
  if (name in map) throw new Error(`${what} is defined twice`);
  return map;
}
