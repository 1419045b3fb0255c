/**
 * DynamoDB, simulated behind aws-sdk-client-mock, for the tables the farm
 * deploys (their key schemas and indexes read from the synthesized template,
 * or given). It honours what the farm's code relies on: condition
 * expressions (comparisons, BETWEEN, AND/OR/NOT, parentheses,
 * attribute_exists/attribute_not_exists, begins_with) checked atomically with
 * the write, `SET` update expressions (with if_not_exists and +),
 * ReturnValues, consistent reads, and Query on the table or a global
 * secondary index with a key condition, order, Limit and paging. An
 * expression it cannot parse fails the call, as DynamoDB's ValidationException
 * does, rather than passing unchecked.
 *
 * Every call waits a random number of event-loop turns before it acts, so
 * concurrent callers interleave their reads and conditional writes as they do
 * against the real service.
 */
import { AttributeValue, ConditionalCheckFailedException, DeleteItemCommand, DynamoDBClient, DynamoDBServiceException, GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';

type Item = Record<string, AttributeValue>;
type Names = Record<string, string> | undefined;
type Values = Record<string, AttributeValue> | undefined;

export interface TableSchema {
  readonly partitionKey: string;
  readonly sortKey?: string;
  readonly indexes?: Record<string, { partitionKey: string; sortKey?: string }>;
}

type CfnTable = { Type: string; Properties: { TableName?: string; KeySchema: { AttributeName: string; KeyType: string }[]; GlobalSecondaryIndexes?: { IndexName: string; KeySchema: { AttributeName: string; KeyType: string }[] }[] } };

/** A table's schema as the template declares it. */
export function schemaOf(resource: CfnTable): TableSchema {
  const keys = (schema: { AttributeName: string; KeyType: string }[]) => ({ partitionKey: schema.find((k) => k.KeyType === 'HASH')!.AttributeName, sortKey: schema.find((k) => k.KeyType === 'RANGE')?.AttributeName });
  return { ...keys(resource.Properties.KeySchema), indexes: Object.fromEntries((resource.Properties.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, keys(i.KeySchema)])) };
}

const validation = (message: string): DynamoDBServiceException => new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message });

// ---- expressions -------------------------------------------------------

type Token = { kind: 'name' | 'value' | 'word' | 'op' | 'punct'; text: string };

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s*(?:(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|([A-Za-z_][A-Za-z0-9_]*)|(<>|<=|>=|=|<|>|\+|-)|([(),.]))/y;
  let at = 0;
  while (at < expression.length) {
    if (/^\s*$/.test(expression.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(expression);
    if (!m) throw validation(`Invalid expression: syntax error near ${JSON.stringify(expression.slice(at, at + 10))}`);
    at = re.lastIndex;
    if (m[1]) tokens.push({ kind: 'name', text: m[1] });
    else if (m[2]) tokens.push({ kind: 'value', text: m[2] });
    else if (m[3]) tokens.push({ kind: 'word', text: m[3] });
    else if (m[4]) tokens.push({ kind: 'op', text: m[4] });
    else tokens.push({ kind: 'punct', text: m[5] });
  }
  return tokens;
}

class Parser {
  private at = 0;
  readonly usedNames = new Set<string>();
  readonly usedValues = new Set<string>();
  constructor(
    private readonly tokens: Token[],
    private readonly names: Names,
    private readonly values: Values,
  ) {}

  peek(): Token | undefined {
    return this.tokens[this.at];
  }
  done(): boolean {
    return this.at >= this.tokens.length;
  }
  next(): Token {
    const t = this.tokens[this.at++];
    if (!t) throw validation('Invalid expression: unexpected end');
    return t;
  }
  expect(text: string): void {
    const t = this.next();
    if (t.text.toUpperCase() !== text) throw validation(`Invalid expression: expected ${text}, got ${t.text}`);
  }
  isWord(word: string): boolean {
    const t = this.peek();
    return t?.kind === 'word' && t.text.toUpperCase() === word;
  }

  /** An attribute name: #placeholder or a plain name. */
  path(): string {
    const t = this.next();
    if (t.kind === 'name') {
      const name = this.names?.[t.text];
      if (name === undefined) throw validation(`Value provided in ExpressionAttributeNames unused or missing: ${t.text}`);
      this.usedNames.add(t.text);
      return name;
    }
    if (t.kind === 'word') return t.text;
    throw validation(`Invalid expression: expected an attribute, got ${t.text}`);
  }

  value(): AttributeValue {
    const t = this.next();
    const v = this.values?.[t.text];
    if (t.kind !== 'value' || v === undefined) throw validation(`An expression attribute value used in expression is not defined: ${t.text}`);
    this.usedValues.add(t.text);
    return v;
  }

  /** An operand of a condition: a value or an attribute of the item. */
  operand(item: Item | undefined): AttributeValue | undefined {
    if (this.peek()?.kind === 'value') return this.value();
    const attribute = this.path();
    return item?.[attribute];
  }

  condition(item: Item | undefined): boolean {
    let result = this.conjunction(item);
    while (this.isWord('OR')) {
      this.next();
      result = this.conjunction(item) || result;
    }
    return result;
  }

  private conjunction(item: Item | undefined): boolean {
    let result = this.negation(item);
    while (this.isWord('AND')) {
      this.next();
      result = this.negation(item) && result;
    }
    return result;
  }

  private negation(item: Item | undefined): boolean {
    if (this.isWord('NOT')) {
      this.next();
      return !this.negation(item);
    }
    return this.primary(item);
  }

  private primary(item: Item | undefined): boolean {
    if (this.peek()?.text === '(') {
      this.next();
      const r = this.condition(item);
      this.expect(')');
      return r;
    }
    for (const fn of ['ATTRIBUTE_EXISTS', 'ATTRIBUTE_NOT_EXISTS', 'BEGINS_WITH']) {
      if (this.isWord(fn)) {
        this.next();
        this.expect('(');
        const attribute = this.path();
        let r: boolean;
        if (fn === 'BEGINS_WITH') {
          this.expect(',');
          const prefix = this.value();
          const v = item?.[attribute];
          r = v?.S !== undefined && prefix.S !== undefined && v.S.startsWith(prefix.S);
        } else {
          r = (item?.[attribute] !== undefined) === (fn === 'ATTRIBUTE_EXISTS');
        }
        this.expect(')');
        return r;
      }
    }
    const left = this.operand(item);
    if (this.isWord('BETWEEN')) {
      this.next();
      const low = this.operand(item);
      this.expect('AND');
      const high = this.operand(item);
      return compare(left, low) !== undefined && compare(left, low)! >= 0 && compare(left, high) !== undefined && compare(left, high)! <= 0;
    }
    const op = this.next();
    if (op.kind !== 'op') throw validation(`Invalid expression: expected a comparator, got ${op.text}`);
    const right = this.operand(item);
    const c = compare(left, right);
    switch (op.text) {
      case '=':
        return c === 0;
      case '<>':
        return c !== 0;
      case '<':
        return c !== undefined && c < 0;
      case '<=':
        return c !== undefined && c <= 0;
      case '>':
        return c !== undefined && c > 0;
      case '>=':
        return c !== undefined && c >= 0;
      default:
        throw validation(`Invalid expression: unknown comparator ${op.text}`);
    }
  }

  /** SET a = operand, b = if_not_exists(b, :v) + :one ... */
  update(item: Item): Item {
    const out: Item = { ...item };
    this.expect('SET');
    for (;;) {
      const attribute = this.path();
      this.expect('=');
      out[attribute] = this.sum(item);
      if (this.peek()?.text !== ',') break;
      this.next();
    }
    if (!this.done()) throw validation(`Invalid UpdateExpression: only SET is simulated, found ${this.peek()!.text}`);
    return out;
  }

  private sum(item: Item): AttributeValue {
    let v = this.term(item);
    while (this.peek()?.text === '+' || this.peek()?.text === '-') {
      const sign = this.next().text === '+' ? 1 : -1;
      const w = this.term(item);
      if (v.N === undefined || w.N === undefined) throw validation('An operand in the update expression has an incorrect data type');
      v = { N: String(Number(v.N) + sign * Number(w.N)) };
    }
    return v;
  }

  private term(item: Item): AttributeValue {
    if (this.isWord('IF_NOT_EXISTS')) {
      this.next();
      this.expect('(');
      const attribute = this.path();
      this.expect(',');
      const fallback = this.value();
      this.expect(')');
      return item[attribute] ?? fallback;
    }
    const v = this.operand(item);
    if (v === undefined) throw validation('The provided expression refers to an attribute that does not exist in the item');
    return v;
  }
}

/** -1, 0, 1, or undefined when the two cannot be compared (missing, or of different types). */
function compare(a: AttributeValue | undefined, b: AttributeValue | undefined): number | undefined {
  if (!a || !b) return undefined;
  if (a.N !== undefined && b.N !== undefined) return Math.sign(Number(a.N) - Number(b.N));
  if (a.S !== undefined && b.S !== undefined) return a.S < b.S ? -1 : a.S > b.S ? 1 : 0;
  if (a.BOOL !== undefined && b.BOOL !== undefined) return a.BOOL === b.BOOL ? 0 : undefined;
  return JSON.stringify(a) === JSON.stringify(b) ? 0 : undefined;
}

function parse(expression: string, names: Names, values: Values): Parser {
  return new Parser(tokenize(expression), names, values);
}

function checkAllUsed(parsers: Parser[], names: Names, values: Values): void {
  const usedNames = new Set(parsers.flatMap((p) => [...p.usedNames]));
  const usedValues = new Set(parsers.flatMap((p) => [...p.usedValues]));
  const unusedName = Object.keys(names ?? {}).find((n) => !usedNames.has(n));
  if (unusedName) throw validation(`Value provided in ExpressionAttributeNames unused in expressions: keys: {${unusedName}}`);
  const unusedValue = Object.keys(values ?? {}).find((v) => !usedValues.has(v));
  if (unusedValue) throw validation(`Value provided in ExpressionAttributeValues unused in expressions: keys: {${unusedValue}}`);
}

// ---- the tables --------------------------------------------------------

export class FakeDynamoDB {
  readonly mock = mockClient(DynamoDBClient);
  readonly tables = new Map<string, { schema: TableSchema; items: Map<string, Item> }>();
  /** Conditional writes refused, for tests to see that contention happened. */
  conditionFailures = 0;

  constructor() {
    this.mock.on(GetItemCommand).callsFake(async (input) => {
      await this.turns();
      const item = this.table(input.TableName).items.get(this.keyOf(input.TableName, input.Key!));
      return item ? { Item: structuredClone(item) } : {};
    });
    this.mock.on(PutItemCommand).callsFake(async (input) => {
      await this.turns();
      const t = this.table(input.TableName);
      const k = this.keyOf(input.TableName, input.Item!);
      this.check(input.ConditionExpression, t.items.get(k), input.ExpressionAttributeNames, input.ExpressionAttributeValues);
      t.items.set(k, structuredClone(input.Item!));
      return {};
    });
    this.mock.on(DeleteItemCommand).callsFake(async (input) => {
      await this.turns();
      const t = this.table(input.TableName);
      const k = this.keyOf(input.TableName, input.Key!);
      this.check(input.ConditionExpression, t.items.get(k), input.ExpressionAttributeNames, input.ExpressionAttributeValues);
      t.items.delete(k);
      return {};
    });
    this.mock.on(UpdateItemCommand).callsFake(async (input) => {
      await this.turns();
      const t = this.table(input.TableName);
      const k = this.keyOf(input.TableName, input.Key!);
      const before = t.items.get(k);
      const condition = this.check(input.ConditionExpression, before, input.ExpressionAttributeNames, input.ExpressionAttributeValues, false);
      const update = parse(input.UpdateExpression ?? '', input.ExpressionAttributeNames, input.ExpressionAttributeValues);
      const after = update.update({ ...(before ?? {}), ...structuredClone(input.Key!) });
      checkAllUsed(condition ? [condition, update] : [update], input.ExpressionAttributeNames, input.ExpressionAttributeValues);
      const schema = t.schema;
      for (const keyName of [schema.partitionKey, schema.sortKey]) {
        if (keyName && JSON.stringify(after[keyName]) !== JSON.stringify(input.Key![keyName])) throw validation(`Cannot update attribute ${keyName}. This attribute is part of the key`);
      }
      t.items.set(k, after);
      const returns = input.ReturnValues ?? 'NONE';
      return returns === 'ALL_NEW' ? { Attributes: structuredClone(after) } : returns === 'ALL_OLD' && before ? { Attributes: structuredClone(before) } : {};
    });
    this.mock.on(QueryCommand).callsFake(async (input) => this.query(input));
  }

  /** A table of the synthesized template, by its (physical) name. */
  addTable(name: string, schema: TableSchema): void {
    this.tables.set(name, { schema, items: new Map() });
  }

  items(name: string): Item[] {
    return [...this.table(name).items.values()];
  }

  private table(name: string | undefined) {
    const t = this.tables.get(name ?? '');
    if (!t) throw new DynamoDBServiceException({ name: 'ResourceNotFoundException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `Requested resource not found: Table: ${name} not found` });
    return t;
  }

  private keyOf(tableName: string | undefined, item: Item): string {
    const { schema } = this.table(tableName);
    const parts = [schema.partitionKey, schema.sortKey].filter((k): k is string => k !== undefined);
    for (const k of parts) if (item[k]?.S === undefined && item[k]?.N === undefined) throw validation(`One of the required keys was not given a value: ${k}`);
    return JSON.stringify(parts.map((k) => item[k]));
  }

  private check(expression: string | undefined, item: Item | undefined, names: Names, values: Values, checkUse = true): Parser | undefined {
    if (!expression) {
      if (checkUse) checkAllUsed([], names, values);
      return undefined;
    }
    const p = parse(expression, names, values);
    const ok = p.condition(item);
    if (!p.done()) throw validation(`Invalid ConditionExpression: syntax error near ${p.peek()!.text}`);
    if (checkUse) checkAllUsed([p], names, values);
    if (!ok) {
      this.conditionFailures++;
      throw new ConditionalCheckFailedException({ $metadata: { httpStatusCode: 400 }, message: 'The conditional request failed' });
    }
    return p;
  }

  private async query(input: import('@aws-sdk/client-dynamodb').QueryCommandInput) {
    await this.turns();
    const t = this.table(input.TableName);
    const keys = input.IndexName ? t.schema.indexes?.[input.IndexName] : t.schema;
    if (!keys) throw validation(`The table does not have the specified index: ${input.IndexName}`);
    const p = parse(input.KeyConditionExpression ?? '', input.ExpressionAttributeNames, input.ExpressionAttributeValues);
    let matches = [...t.items.values()].filter((item) => {
      // Items without the index's keys are not in the index.
      if (!item[keys.partitionKey] || (keys.sortKey && !item[keys.sortKey])) return false;
      const q = parse(input.KeyConditionExpression ?? '', input.ExpressionAttributeNames, input.ExpressionAttributeValues);
      const ok = q.condition(item);
      return ok;
    });
    p.condition(undefined);
    checkAllUsed([p], input.ExpressionAttributeNames, input.ExpressionAttributeValues);
    const sortKey = keys.sortKey;
    if (sortKey) matches.sort((a, b) => compare(a[sortKey], b[sortKey]) ?? 0);
    if (input.ScanIndexForward === false) matches.reverse();
    if (input.ExclusiveStartKey) {
      const start = JSON.stringify(input.ExclusiveStartKey);
      const at = matches.findIndex((m) => JSON.stringify(this.pageKey(m, t.schema, keys)) === start);
      matches = matches.slice(at + 1);
    }
    const page = input.Limit ? matches.slice(0, input.Limit) : matches;
    const more = input.Limit !== undefined && matches.length > input.Limit;
    return { Items: structuredClone(page), Count: page.length, ...(more ? { LastEvaluatedKey: this.pageKey(page[page.length - 1], t.schema, keys) } : {}) };
  }

  private pageKey(item: Item, table: TableSchema, index: { partitionKey: string; sortKey?: string }): Item {
    const names = new Set([table.partitionKey, table.sortKey, index.partitionKey, index.sortKey].filter((k): k is string => k !== undefined));
    return Object.fromEntries([...names].sort().map((n) => [n, item[n]]));
  }

  /** A few turns of the event loop: where concurrent calls interleave. */
  private async turns(): Promise<void> {
    const n = Math.floor(Math.random() * 4);
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  restore(): void {
    this.mock.restore();
  }
}
