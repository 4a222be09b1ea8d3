namespace AkkaTcpTransfer.Hosting;

/// <summary>A node could not start: the server cannot bind, the client cannot connect, or the server refused it.
/// <see cref="Exception.Message"/> is one line fit to show a user.</summary>
public sealed class NodeStartException : Exception
{
    public NodeStartException(StartFailure kind, string message) : base(message) => Kind = kind;

    public StartFailure Kind { get; }
}
