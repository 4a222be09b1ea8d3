using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace AkkaTcpTransfer.Tests.Architecture;

/// <summary>What an embedder can use of the library and the cluster plugin: every exported type with its public and
/// protected members, written one per line and compared with PublicApi.txt beside this file. A type made public by
/// accident, or a member changed, fails here; a change meant to be made is made in PublicApi.txt too, in the same commit
/// (the failing test writes what it found to PublicApi.received.txt to copy from).</summary>
public sealed class PublicApiTests
{
    private static readonly string[] RecordPlumbing = ["<Clone>$", "EqualityContract", "PrintMembers", "Deconstruct", "Equals",
        "GetHashCode", "ToString", "op_Equality", "op_Inequality"];

    [Fact]
    public void The_public_api_is_the_one_approved()
    {
        var actual = Describe(typeof(Hosting.NodeHost).Assembly, typeof(global::AkkaTcpTransfer.Cluster.ClusterPlugin).Assembly,
            typeof(global::AkkaTcpTransfer.Web.WebClientServer).Assembly);
        var folder = Path.Combine(FindRoot(), "tests", "AkkaTcpTransfer.Tests", "Architecture");
        var approvedFile = Path.Combine(folder, "PublicApi.txt");
        var approved = File.Exists(approvedFile) ? File.ReadAllText(approvedFile).ReplaceLineEndings("\n") : "";
        var received = Path.Combine(folder, "PublicApi.received.txt");
        if (actual == approved)
        {
            File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual);
        var want = approved.Split('\n').ToHashSet(StringComparer.Ordinal);
        var have = actual.Split('\n').ToHashSet(StringComparer.Ordinal);
        var added = have.Except(want).Select(l => "+ " + l);
        var removed = want.Except(have).Select(l => "- " + l);
        Assert.Fail($"the public API changed (what it is now: {received}):\n" + string.Join("\n", added.Concat(removed).Take(60)));
    }

    [Fact]
    public void An_internal_type_is_not_part_of_it_and_a_public_one_is()
    {
        var api = Describe(typeof(Hosting.NodeHost).Assembly);
        Assert.Contains("class AkkaTcpTransfer.Hosting.ServerNode", api, StringComparison.Ordinal);
        Assert.DoesNotContain("AkkaTcpTransfer.Server.PeerActor", api, StringComparison.Ordinal);
        Assert.DoesNotContain("AkkaTcpTransfer.Presentation.ScreenModel", api, StringComparison.Ordinal);
    }

    /// <summary>Every exported type of <paramref name="assemblies"/>, then its visible members, sorted, one per line.</summary>
    internal static string Describe(params Assembly[] assemblies)
    {
        var text = new StringBuilder();
        foreach (var type in assemblies.SelectMany(a => a.GetExportedTypes()).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            text.Append(Kind(type)).Append(' ').Append(Name(type));
            if (type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum)) text.Append(" : ").Append(Name(b));
            text.Append('\n');
            if (type.IsEnum)
            {
                foreach (var name in Enum.GetNames(type)) text.Append("  ").Append(name).Append('\n');
                continue;
            }
            foreach (var member in Members(type).Order(StringComparer.Ordinal)) text.Append("  ").Append(member).Append('\n');
        }
        return text.ToString();
    }

    private static IEnumerable<string> Members(Type type)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var record = type.GetMethod("<Clone>$") is not null || type.GetProperty("EqualityContract", BindingFlags.NonPublic | BindingFlags.Instance) is not null;
        foreach (var member in type.GetMembers(flags))
        {
            switch (member)
            {
                case ConstructorInfo c when Visible(c) && !c.IsStatic && !(record && IsCopyConstructor(c, type)):
                    yield return $"{(c.IsFamily ? "protected " : "")}ctor({Parameters(c)})";
                    break;
                case MethodInfo m when Visible(m) && !m.IsSpecialName && !(record && RecordPlumbing.Contains(m.Name)):
                    yield return $"{Modifiers(m)}{Name(m.ReturnType)} {m.Name}{Generic(m)}({Parameters(m)})";
                    break;
                case MethodInfo m when Visible(m) && m.IsSpecialName && m.Name.StartsWith("op_", StringComparison.Ordinal) && !(record && RecordPlumbing.Contains(m.Name)):
                    yield return $"operator {Name(m.ReturnType)} {m.Name}({Parameters(m)})";
                    break;
                case PropertyInfo p when (p.GetMethod is { } g && Visible(g)) || (p.SetMethod is { } s0 && Visible(s0)):
                    if (record && p.Name == "EqualityContract") break;
                    var get = p.GetMethod is { } pg && Visible(pg) ? " get;" : "";
                    var set = p.SetMethod is { } ps && Visible(ps)
                        ? ps.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit)) ? " init;" : " set;"
                        : "";
                    yield return $"{(p.GetMethod?.IsStatic == true ? "static " : "")}{Name(p.PropertyType)} {p.Name} {{{get}{set} }}";
                    break;
                case FieldInfo f when (f.IsPublic || f.IsFamily) && !f.IsSpecialName:
                    yield return $"{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{Name(f.FieldType)} {f.Name}";
                    break;
                case EventInfo e when e.AddMethod is { } add && Visible(add):
                    yield return $"event {Name(e.EventHandlerType!)} {e.Name}";
                    break;
                case Type nested when nested.IsNestedPublic || nested.IsNestedFamily:
                    break; // listed as a type of its own
            }
        }
    }

    private static bool Visible(MethodBase m) => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly;

    private static bool IsCopyConstructor(ConstructorInfo c, Type type) =>
        c.GetParameters() is [{ } only] && only.ParameterType == type;

    private static string Modifiers(MethodInfo m) =>
        (m.IsFamily ? "protected " : "") + (m.IsStatic ? "static " : "") + (m.IsAbstract ? "abstract " : m.IsVirtual && !m.IsFinal ? "virtual " : "");

    private static string Generic(MethodInfo m) =>
        m.IsGenericMethodDefinition ? "<" + string.Join(", ", m.GetGenericArguments().Select(a => a.Name)) + ">" : "";

    private static string Parameters(MethodBase m) =>
        string.Join(", ", m.GetParameters().Select(p => $"{Name(p.ParameterType)} {p.Name}{(p.HasDefaultValue ? " = " + (p.DefaultValue ?? "null") : "")}"));

    private static string Kind(Type t) =>
        t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? "struct"
        : t.GetMethod("<Clone>$") is not null ? (t.IsAbstract ? "abstract record" : t.IsSealed ? "sealed record" : "record")
        : t.IsAbstract && t.IsSealed ? "static class" : t.IsAbstract ? "abstract class" : t.IsSealed ? "sealed class" : "class";

    private static string Name(Type t)
    {
        if (t.IsByRef) return "ref " + Name(t.GetElementType()!);
        if (t.IsArray) return Name(t.GetElementType()!) + "[]";
        if (t.IsGenericParameter) return t.Name;
        if (Nullable.GetUnderlyingType(t) is { } inner) return Name(inner) + "?";
        var name = (t.IsNested ? Name(t.DeclaringType!) + "." + t.Name : t.FullName ?? t.Name);
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        if (tick >= 0) name = name[..tick];
        return t.IsGenericType ? $"{name}<{string.Join(", ", t.GetGenericArguments().Select(Name))}>" : name;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AkkaTcpTransfer.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException($"no AkkaTcpTransfer.sln above {AppContext.BaseDirectory}");
    }
}
