// @ts-check
import ts from 'typescript';

/**
 * The declarations of `src/protocol.ts` with every exported type printed in its resolved, structural form.
 *
 * protocol.ts re-exports the server's protocol types (interfaces, and types inferred from zod schemas). tsc would
 * declare them as re-exports of the server's modules, which a published package cannot reach, and the zod-inferred
 * ones only make sense with zod's own declarations. The type checker knows what each of them is: this prints that,
 * so the published `index.d.ts` says `{ id: string; eventType: "comments" | ... }` and depends on nothing.
 *
 * @param {ts.Program} program a program that contains `protocolFile`
 * @param {string} protocolFile absolute path of client/src/protocol.ts
 * @returns {string} the text of a `.d.ts` file
 */
export function protocolDeclarations(program, protocolFile) {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(protocolFile);
  if (source === undefined) throw new Error(`${protocolFile} is not part of the program`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error(`${protocolFile} has no exports`);

  const flags = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.InTypeAlias;
  const print = (/** @type {ts.Type} */ type) => checker.typeToString(type, undefined, flags);

  const lines = ['// Generated from the server\'s protocol definitions by client/scripts/protocol-declarations.mjs.', ''];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (!(symbol.flags & (ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Interface))) {
      throw new Error(`protocol.ts may only export types; ${exported.name} is not one`);
    }
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const doc = ts.displayPartsToString(symbol.getDocumentationComment(checker));
    if (doc !== '') lines.push(`/** ${doc.replace(/\*\//g, '* /').split('\n').join('\n * ')} */`);
    if (isObjectType(type)) {
      // As an interface, member by member: printing it whole would only give a name (the server's).
      lines.push(`export interface ${exported.name} ${members(checker, type, print)}`);
    } else {
      lines.push(`export type ${exported.name} = ${print(type)};`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Object types and intersections of them: what can be declared as an interface.
 * @param {ts.Type} type
 * @returns {boolean}
 */
function isObjectType(type) {
  if (type.flags & ts.TypeFlags.Object) return true;
  return (type.flags & ts.TypeFlags.Intersection) !== 0 && /** @type {ts.IntersectionType} */ (type).types.every(isObjectType);
}

/**
 * An object type's members, one per line (typeToString would only give the interface's name).
 * @param {ts.TypeChecker} checker
 * @param {ts.Type} type
 * @param {(type: ts.Type) => string} print
 */
function members(checker, type, print) {
  if ((type.getCallSignatures().length | type.getConstructSignatures().length) !== 0) {
    throw new Error(`interface ${checker.typeToString(type)} has call signatures, which this printer does not handle`);
  }
  const out = [];
  for (const info of checker.getIndexInfosOfType(type)) {
    out.push(`  ${info.isReadonly ? 'readonly ' : ''}[key: ${print(info.keyType)}]: ${print(info.type)};`);
  }
  for (const property of checker.getPropertiesOfType(type)) {
    const declaration = property.valueDeclaration ?? property.declarations?.[0];
    const optional = (property.flags & ts.SymbolFlags.Optional) !== 0;
    const readonly =
      declaration !== undefined && (ts.getCombinedModifierFlags(declaration) & ts.ModifierFlags.Readonly) !== 0;
    const name = ts.isIdentifierText(property.name, ts.ScriptTarget.ES2022) ? property.name : JSON.stringify(property.name);
    const doc = ts.displayPartsToString(property.getDocumentationComment(checker));
    if (doc !== '') out.push(`  /** ${doc.replace(/\*\//g, '* /').split('\n').join(' ')} */`);
    out.push(`  ${readonly ? 'readonly ' : ''}${name}${optional ? '?' : ''}: ${print(checker.getTypeOfSymbol(property))};`);
  }
  return `{\n${out.join('\n')}\n}`;
}
