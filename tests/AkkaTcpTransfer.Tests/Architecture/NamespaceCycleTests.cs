namespace AkkaTcpTransfer.Tests.Architecture;

/// <summary>No namespace of our assemblies uses another that uses it back, however indirectly: each layer can be read
/// (and changed) without the ones above it. Checked on the compiled assemblies, so a fully qualified name counts as
/// much as a using.</summary>
public class NamespaceCycleTests
{
    public static TheoryData<string> Assemblies => new()
    {
        typeof(AkkaTcpTransfer.Hosting.NodeHost).Assembly.Location,
        typeof(AkkaTcpTransfer.Cluster.ClusterPlugin).Assembly.Location,
        typeof(AkkaTcpTransfer.Protocol.FrameEncoder).Assembly.Location,
        typeof(AkkaTcpTransfer.Tui.ChatWindow).Assembly.Location,
        typeof(AkkaTcpTransfer.Web.WebClientServer).Assembly.Location,
    };

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void No_namespace_uses_one_that_uses_it_back(string assembly)
    {
        var graph = NamespaceGraph.Of(assembly);
        Assert.True(graph.Count > 0, $"no namespaces read from {assembly}");
        var cycles = NamespaceGraph.Cycles(graph);
        Assert.True(cycles.Count == 0, "namespaces that use each other:\n" + string.Join("\n", cycles.Select(c =>
            string.Join(" <-> ", c) + "\n    " + string.Join("\n    ", c.SelectMany(a => graph[a].Where(c.Contains).Select(b => $"{a} -> {b}"))))));
    }

    [Fact]
    public void The_graph_sees_a_use_that_only_a_method_body_makes()
    {
        // The test's own assembly: this class's namespace uses Support (EventLog) only inside a method body.
        var graph = NamespaceGraph.Of(typeof(NamespaceCycleTests).Assembly.Location);
        Assert.Contains("AkkaTcpTransfer.Tests.Support", graph["AkkaTcpTransfer.Tests.Architecture"]);
    }

    private static TimeSpan Probe() => Support.EventLog.DefaultTimeout;
}
