using System.Net;

namespace AkkaTcpTransfer.Tcp;

public static class ListenerMessages
{
    /// <summary>Listener to parent: bound; <paramref name="Endpoint"/> carries the real port.</summary>
    public sealed record Bound(IPEndPoint Endpoint);

    /// <summary>Listener to parent: the bind failed. The listener stops after sending this.</summary>
    public sealed record BindFailed(string Reason);

    /// <summary>Parent to listener: stop accepting and close every connection with <paramref name="Reason"/>.
    /// Answered with <see cref="Drained"/> once every connection's actor has stopped.</summary>
    public sealed record Drain(string Reason);

    public sealed record Drained
    {
        public static readonly Drained Instance = new();
        private Drained() { }
    }

    /// <summary>Listener to each of its connection owners during <see cref="Drain"/>.</summary>
    public sealed record ShutdownNotice(string Reason);
}
