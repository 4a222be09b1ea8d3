using System.Net;

namespace AkkaTcpTransfer.Tcp;

internal static class ListenerMessages
{
    /// <summary>Listener to parent: bound; <paramref name="Endpoint"/> carries the real port.</summary>
    public sealed record Bound(IPEndPoint Endpoint);

    /// <summary>To the listener (through the server actor): a client reached the server over a WebSocket, which the web
    /// server has accepted. The listener admits or refuses it as it does a TCP connection from <paramref name="Remote"/>,
    /// with a <see cref="WebSocketSocketActor"/> in the place of Akka.IO's connection. <paramref name="Done"/> completes
    /// when the connection is over.</summary>
    public sealed record AdoptWebSocket(System.Net.WebSockets.WebSocket Socket, EndPoint Remote, TaskCompletionSource Done);

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

    /// <summary>Connection owner to listener: the client presented a wrong token, or was disconnected for sending too
    /// fast. Its address is made to wait before its next connection is admitted (<see cref="Admission"/>), so that neither
    /// guessing tokens nor rejoining for a fresh rate allowance pays.</summary>
    public sealed record Misbehaved(EndPoint Remote, Misbehaviour What);

    public enum Misbehaviour
    {
        WrongToken,
        RateLimited,
    }

    /// <summary>Connection owner to listener: the client is in (its handshake no longer counts as in progress).</summary>
    public sealed record Admitted
    {
        public static readonly Admitted Instance = new();
        private Admitted() { }
    }

    /// <summary>Listener to a connection owner still in its handshake: close, to make room (the server is out of
    /// descriptors). An owner whose client is already in ignores it.</summary>
    public sealed record Evict(string Reason);

    /// <summary>Listener to each of its connection owners during <see cref="Drain"/>. Sent to every child, including one
    /// already stopping (its client just left): that one needs no notice, so the undelivered copy is no dead letter.</summary>
    public sealed record ShutdownNotice(string Reason) : Akka.Event.IDeadLetterSuppression;
}
