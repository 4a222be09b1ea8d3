namespace AkkaTcpTransfer.Tests.Support;

/// <summary>The real nodes and real files of one test (xUnit makes a class instance per test): every node is stopped,
/// and its health checked, and every file removed after it.</summary>
public abstract class NodesAndFiles(TestNodes nodes) : IAsyncLifetime
{
    protected NodesAndFiles() : this(new TestNodes()) { }

    protected TestNodes Nodes { get; } = nodes;

    protected Files Files { get; } = new();

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        await Nodes.DisposeAsync();
        Files.Dispose();
    }
}
