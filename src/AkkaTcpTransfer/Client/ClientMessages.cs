using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Client;

/// <summary>Between a client's root (<see cref="ClientActor"/>) and its session on one connection
/// (<see cref="ClientSessionActor"/>). A session reports once that the server welcomed it and once that it is over
/// (<see cref="CannotConnect"/> or <see cref="Lost"/>); the root forwards commands only to a session it has heard is
/// online, and lets a session go (<see cref="Release"/>) only once it has heard it is over, so that whatever the root
/// forwarded before reaches a session that answers it.</summary>
internal static class ClientMessages
{
    // ---------------------------------------------------------------- root -> session

    /// <summary>A chat line to send, already numbered: the node numbers its lines across sessions.</summary>
    public sealed record Say(ChatOutbox.Line Line);

    /// <summary>The root is online and has published <see cref="Events.Connected"/>: the server's frames may become
    /// events now (none is published before the node says it is connected).</summary>
    public sealed record Proceed
    {
        public static readonly Proceed Instance = new();
        private Proceed() { }
    }

    /// <summary>The client stops: answer every chat line, tell the transfers, say goodbye to the server, and stop once
    /// the connection is gone. Nothing more is forwarded after it.</summary>
    public sealed record Leave(string Reason);

    /// <summary>The root has heard this session is over and forwards nothing more: stop once the connection is gone.</summary>
    public sealed record Release
    {
        public static readonly Release Instance = new();
        private Release() { }
    }

    // ---------------------------------------------------------------- session -> root

    /// <summary>The server welcomed this client (protocol version checked); <paramref name="Tls"/> is null in plaintext.
    /// The session holds the server's frames until <see cref="Proceed"/>.</summary>
    public sealed record Welcomed(Welcome Welcome, TlsSession? Tls);

    /// <summary>The server refused the handshake; its connection closes next (<see cref="Lost"/> follows).</summary>
    public sealed record Refused(WireCode Code, string Reason);

    /// <summary>Over: the connection could not be made.</summary>
    public sealed record CannotConnect(ConnectionMessages.ConnectFailed Failure);

    /// <summary>Over: the connection was made and is gone; <paramref name="Reconnect"/> is false when the server said
    /// a newer connection of this identity replaced it.</summary>
    public sealed record Lost(string Reason, bool Reconnect);
}
