using System.Globalization;
using System.Text;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Renders events as time-stamped lines for people. Text from peers is shown with control characters
/// neutralised, so nobody can move another user's cursor or rewrite their screen with escape sequences.</summary>
public static class HumanEventFormatter
{
    public static string? Format(NodeEvent e, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(e);
        var body = e switch
        {
            Listening l => $"listening on {l.Host}:{l.Port}",
            Connected c => $"connected to {Safe(c.Server)} as {Safe(c.Name)}",
            Disconnected d => $"disconnected: {Safe(d.Reason)}{(d.WillReconnect ? " (reconnecting)" : "")}",
            PeerJoined j => $"* {Safe(j.Name)} joined",
            PeerLeft l => $"* {Safe(l.Name)} left",
            WhoListed w => $"online: {string.Join(", ", w.Names.Select(Safe))}",
            ChatReceived c when c.To is null => $"<{Safe(c.From)}> {Safe(c.Text)}",
            ChatReceived c => $"<{Safe(c.From)} -> {Safe(c.To!)}> {Safe(c.Text)}",
            ErrorOccurred err => $"error: {Safe(err.Message)}",
            ConnectionRefused r => $"error: {Safe(r.Reason)}",
            _ => null,
        };
        return body is null ? null : $"[{now.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)}] {body}";
    }

    /// <summary>Replaces control characters (escape sequences, carriage returns, bells...) with U+FFFD; keeps tabs.</summary>
    public static string Safe(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(IsUnsafe)) return text;
        var sb = new StringBuilder(text.Length);
        foreach (var c in text) sb.Append(IsUnsafe(c) ? '\uFFFD' : c);
        return sb.ToString();
    }

    private static bool IsUnsafe(char c) => c != '\t' && (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u202E' or '\u202D');
}
