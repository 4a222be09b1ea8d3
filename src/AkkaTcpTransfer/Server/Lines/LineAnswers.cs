using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Server.Lines;

/// <summary>How a line a client (or the server) said is answered, by whichever part of the server took it: the session
/// registry (the server-wide room), a room, or the recipient's account (a direct message). Exactly one answer per line;
/// the session turns it into SayAck or SayRefused.</summary>
internal static class LineAnswers
{
    /// <summary>The line was stored and passed on to its recipients, stamped <paramref name="AtMs"/> (Unix ms).
    /// <paramref name="Held"/>: its recipient is offline and gets it on its next connection.</summary>
    public sealed record SayDone(uint Id, long AtMs, bool Held = false) : ICrossNodeMessage;

    /// <summary>The line was not passed on, and never will be.</summary>
    public sealed record SayFailed(uint Id, WireCode Code, string Reason) : ICrossNodeMessage;

    /// <summary>The line would reach more people than its sender may reach right now (its fan-out allowance): nothing
    /// was passed on; ask again after <paramref name="Wait"/>.</summary>
    public sealed record SayDeferred(uint Id, TimeSpan Wait) : ICrossNodeMessage;

}
