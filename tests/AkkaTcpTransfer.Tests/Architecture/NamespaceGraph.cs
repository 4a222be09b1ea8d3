using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace AkkaTcpTransfer.Tests.Architecture;

/// <summary>Which namespaces of one assembly use which, read from its compiled metadata and IL: base types, interfaces,
/// fields, method signatures, and every type, method or field a method body refers to (lambdas and iterators included:
/// the compiler nests their classes in the type that holds them). Fully qualified uses count as much as <c>using</c>s.</summary>
internal static class NamespaceGraph
{
    public static Dictionary<string, HashSet<string>> Of(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var handle in md.TypeDefinitions)
        {
            var from = NamespaceOf(md, handle);
            if (from.Length == 0) continue;
            if (!graph.TryGetValue(from, out var uses)) graph[from] = uses = new HashSet<string>(StringComparer.Ordinal);
            void Use(EntityHandle h)
            {
                foreach (var ns in NamespacesOf(md, h)) if (ns != from && ns.Length > 0) uses.Add(ns);
            }
            var type = md.GetTypeDefinition(handle);
            if (!type.BaseType.IsNil) Use(type.BaseType);
            foreach (var i in type.GetInterfaceImplementations()) Use(md.GetInterfaceImplementation(i).Interface);
            foreach (var f in type.GetFields()) Signature(md, md.GetFieldDefinition(f).Signature, Use);
            foreach (var m in type.GetMethods())
            {
                var method = md.GetMethodDefinition(m);
                Signature(md, method.Signature, Use);
                if (method.RelativeVirtualAddress == 0) continue;
                var body = pe.GetMethodBody(method.RelativeVirtualAddress);
                foreach (var token in Tokens(body.GetILReader())) Use(MetadataTokens.EntityHandle(token));
                if (!body.LocalSignature.IsNil)
                {
                    var locals = md.GetStandaloneSignature(body.LocalSignature).Signature;
                    Signature(md, locals, Use);
                }
            }
        }
        return graph;
    }

    /// <summary>Groups of namespaces that use each other round a circle (strongly connected, more than one).</summary>
    public static List<List<string>> Cycles(Dictionary<string, HashSet<string>> graph)
    {
        // Tarjan's algorithm.
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var cycles = new List<List<string>>();
        var next = 0;
        void Visit(string v)
        {
            index[v] = low[v] = next++;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in graph.GetValueOrDefault(v) ?? [])
            {
                if (!graph.ContainsKey(w)) continue;
                if (!index.TryGetValue(w, out var seen))
                {
                    Visit(w);
                    low[v] = Math.Min(low[v], low[w]);
                }
                else if (onStack.Contains(w))
                {
                    low[v] = Math.Min(low[v], seen);
                }
            }
            if (low[v] != index[v]) return;
            var component = new List<string>();
            string x;
            do
            {
                x = stack.Pop();
                onStack.Remove(x);
                component.Add(x);
            }
            while (x != v);
            if (component.Count > 1) cycles.Add([.. component.Order(StringComparer.Ordinal)]);
        }
        foreach (var v in graph.Keys.Order(StringComparer.Ordinal)) if (!index.ContainsKey(v)) Visit(v);
        return cycles;
    }

    private static string NamespaceOf(MetadataReader md, TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        var declaring = type.GetDeclaringType();
        return declaring.IsNil ? md.GetString(type.Namespace) : NamespaceOf(md, declaring);
    }

    private static IEnumerable<string> NamespacesOf(MetadataReader md, EntityHandle handle)
    {
        switch (handle.Kind)
        {
            case HandleKind.TypeDefinition:
                yield return NamespaceOf(md, (TypeDefinitionHandle)handle);
                break;
            case HandleKind.TypeReference:
                // Types of other assemblies (Akka, the protocol) are no part of this graph.
                break;
            case HandleKind.TypeSpecification:
                foreach (var ns in TypesIn(md, md.GetTypeSpecification((TypeSpecificationHandle)handle).Signature)) yield return ns;
                break;
            case HandleKind.MethodDefinition:
                yield return NamespaceOf(md, md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                break;
            case HandleKind.FieldDefinition:
                yield return NamespaceOf(md, md.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType());
                break;
            case HandleKind.MemberReference:
            {
                var member = md.GetMemberReference((MemberReferenceHandle)handle);
                foreach (var ns in NamespacesOf(md, member.Parent)) yield return ns;
                foreach (var ns in TypesIn(md, member.Signature)) yield return ns;
                break;
            }
            case HandleKind.MethodSpecification:
            {
                var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                foreach (var ns in NamespacesOf(md, spec.Method)) yield return ns;
                foreach (var ns in TypesIn(md, spec.Signature)) yield return ns;
                break;
            }
        }
    }

    private static void Signature(MetadataReader md, BlobHandle blob, Action<EntityHandle> use)
    {
        foreach (var handle in TypeHandlesIn(md, blob)) use(handle);
    }

    private static IEnumerable<string> TypesIn(MetadataReader md, BlobHandle blob) =>
        TypeHandlesIn(md, blob).Where(h => h.Kind == HandleKind.TypeDefinition).Select(h => NamespaceOf(md, (TypeDefinitionHandle)h));

    /// <summary>Every type of this assembly named in a signature blob (a compressed type token follows CLASS, VALUETYPE
    /// and the like). Scanning every position may also read a false token now and then, which can only add an edge to a
    /// namespace this assembly defines; the test then names the circle, and a false one would show as such.</summary>
    private static List<EntityHandle> TypeHandlesIn(MetadataReader md, BlobHandle blob)
    {
        var found = new List<EntityHandle>();
        if (blob.IsNil) return found;
        var reader = md.GetBlobReader(blob);
        var bytes = reader.ReadBytes(reader.Length);
        for (var i = 0; i + 1 < bytes.Length; i++)
        {
            // 0x11 VALUETYPE, 0x12 CLASS, then a TypeDefOrRefOrSpec coded index: a compressed number, tag in its low 2 bits.
            if (bytes[i] is not (0x11 or 0x12)) continue;
            var b = bytes[i + 1];
            uint value;
            if ((b & 0x80) == 0) value = b;
            else if ((b & 0xC0) == 0x80 && i + 2 < bytes.Length) value = (uint)((b & 0x3F) << 8 | bytes[i + 2]);
            else continue;
            if ((value & 3) != 0) continue; // a reference or a specification: not a definition of this assembly
            var row = (int)(value >> 2);
            if (row >= 1 && row <= md.TypeDefinitions.Count) found.Add(MetadataTokens.TypeDefinitionHandle(row));
        }
        return found;
    }

    /// <summary>The tokens a method's IL refers to (calls, field accesses, types, ldtoken).</summary>
    private static List<int> Tokens(BlobReader il)
    {
        var tokens = new List<int>();
        while (il.RemainingBytes > 0)
        {
            int code = il.ReadByte();
            if (code == 0xFE) code = 0xFE00 | il.ReadByte();
            switch (OperandSize(code))
            {
                case -1:
                    tokens.Add(il.ReadInt32());
                    break;
                case -2: // switch
                    var n = il.ReadInt32();
                    il.Offset += n * 4;
                    break;
                default:
                    il.Offset += OperandSize(code);
                    break;
            }
        }
        return tokens;
    }

    /// <summary>Bytes of an opcode's operand; -1 for a metadata token, -2 for a switch table.</summary>
    private static int OperandSize(int code) => code switch
    {
        // tokens: ldstr(0x72) carries a string token, not a type: skipped as 4 bytes
        0x72 => 4,
        0x28 or 0x29 or 0x6F or 0x70 or 0x71 or 0x73 or 0x74 or 0x75 or 0x79 or 0x7B or 0x7C or 0x7D or 0x7E or 0x7F or 0x80
            or 0x81 or 0x8C or 0x8D or 0x8F or 0xA3 or 0xA4 or 0xA5 or 0xC2 or 0xC6 or 0xD0 or 0xFE06 or 0xFE07 or 0xFE15 or 0xFE16
            or 0xFE1C => -1,
        0x45 => -2,
        // one-byte operands: short branches, ldarg.s, ldloc.s, ldc.i4.s...
        0x0E or 0x0F or 0x10 or 0x11 or 0x12 or 0x13 or 0x1F or 0x2B or 0x2C or 0x2D or 0x2E or 0x2F or 0x30 or 0x31 or 0x32
            or 0x33 or 0x34 or 0x35 or 0x36 or 0x37 or 0xDE or 0xFE12 => 1,
        // four-byte operands: long branches, ldc.i4, ldc.r4, leave
        0x20 or 0x22 or 0x38 or 0x39 or 0x3A or 0x3B or 0x3C or 0x3D or 0x3E or 0x3F or 0x40 or 0x41 or 0x42 or 0x43 or 0x44
            or 0xDD => 4,
        0x21 or 0x23 => 8, // ldc.i8, ldc.r8
        0xFE09 or 0xFE0A or 0xFE0B or 0xFE0C or 0xFE0D or 0xFE0E => 2, // ldarg, ldarga, starg, ldloc, ldloca, stloc
        0xFE19 => 1, // no.
        _ => 0,
    };
}
