using System.Globalization;
using System.Text;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Text;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Renders events as time-stamped lines for people. Text from peers is shown with control characters
/// neutralised, so nobody can move another user's cursor or rewrite their screen with escape sequences.</summary>
internal static class HumanEventFormatter
{
    public static string? Format(NodeEvent e, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(e);
        var body = e switch
        {
            Listening { Fingerprint: null } l => $"listening on {l.Host}:{l.Port} WITHOUT TLS (--insecure): chat, files and the token cross the network in the clear" + Reach(l),
            Listening l => $"listening on {l.Host}:{l.Port} with TLS; key fingerprint {l.Fingerprint}"
                + (l.CertificateFile is { } cert ? $"\n           (check: {Security.Fingerprint.OpensslCommand(cert)})" : "") + Reach(l),
            WebListening { Tls: false } web => $"web client at {web.Url} (WITHOUT TLS: --insecure)",
            WebListening web => $"web client at {web.Url} (HTTPS with the key above; a browser warns about a self-signed certificate: see README, \"The web client\")",
            Connected { Fingerprint: null } c => $"connected to {Safe(c.Server)} as {Safe(c.Name)} WITHOUT TLS (--insecure){Registered(c)}",
            Connected c => $"connected to {Safe(c.Server)} as {Safe(c.Name)} with TLS (server key {c.Fingerprint![..16]}..., {TrustWords(c.Trust)}){Registered(c)}",
            ServerPinned p => $"pinned {Safe(p.Server)}'s key fingerprint {p.Fingerprint} in {p.File}",
            Disconnected d => $"disconnected: {Safe(d.Reason)}{(d.WillReconnect ? " (reconnecting)" : "")}",
            ClusterMemberChanged m => $"cluster: {(m.Self ? "this node" : "node")} {m.Node} {m.Status}",
            PeerJoined j => $"* {Safe(j.Name)} joined",
            PeerLeft l => $"* {Safe(l.Name)} left",
            WhoListed w => $"online: {string.Join(", ", w.Names.Select(Safe))}",
            ChatReceived c when c.To is null => $"<{Safe(c.From)}> {Safe(c.Text)}",
            ChatReceived c => $"<{Safe(c.From)} -> {Safe(c.To!)}> {Safe(c.Text)}",
            ChatSent { To: null } c => $"<me> {Safe(c.Text)}",
            ChatSent { Held: true } c => $"<me -> {Safe(c.To!)}> {Safe(c.Text)} ({Safe(c.To!)} is offline: kept for their next visit)",
            ChatSent c => $"<me -> {Safe(c.To!)}> {Safe(c.Text)}",
            JoinedRoom j => $"{(j.Rejoined ? "back in" : "joined")} {Safe(j.Room)} ({j.Members} member{(j.Members == 1 ? "" : "s")})"
                + (j.Topic.Length > 0 ? $": {Safe(j.Topic)}" : ""),
            LeftRoom l => $"left {Safe(l.Room)}: {Safe(l.Reason)}",
            RoomRequestRefused r => $"error: {Safe(r.Room)}: {Safe(r.Reason)}",
            RoomsListed l when l.Rooms.Count == 0 => "no rooms yet (/join #name makes one)",
            RoomsListed l => string.Join("\n           ", ["rooms:", .. l.Rooms.Select(r =>
                $"{Safe(r.Room)} ({r.Members} member{(r.Members == 1 ? "" : "s")}){(r.Topic.Length > 0 ? ": " + Safe(r.Topic) : "")}")]),
            MembersListed m => $"{Safe(m.Room)}: {string.Join(", ", m.Members.Select(x => x.Online ? Safe(x.Name) : Safe(x.Name) + " (away)"))}",
            TopicChanged t when t.Topic.Length == 0 => $"{Safe(t.Room)}: {Safe(t.By)} cleared the topic",
            TopicChanged t => $"{Safe(t.Room)}: {Safe(t.By)} set the topic: {Safe(t.Topic)}",
            MemberJoinedRoom j => $"* {Safe(j.Name)} joined {Safe(j.Room)}",
            MemberLeftRoom l => $"* {Safe(l.Name)} left {Safe(l.Room)}",
            HistoryLine h => $"({h.At.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}) "
                + (h.To is null ? $"<{Safe(h.From)}> " : $"<{Safe(h.From)} -> {Safe(h.To)}> ") + Safe(h.Text),
            HistoryEnded => null, // the end of a run of history: the UI draws a line; line mode needs none
            NameRegistration n => $"name {Safe(n.Name)}: {Safe(n.Reason)}",
            ChatNotSent n => $"error: not sent{(n.To is null ? "" : $" to {Safe(n.To)}")}: \"{Safe(Excerpt(n.Text))}\": {Safe(n.Reason)}",
            ChatQueue => null, // a status (the UI shows it; line mode says once when lines start to wait)
            TransferWaiting w => $"{w.Id} waiting for {Safe(w.To)} to accept {Safe(w.File)} ({Units.Bytes(w.Size)})",
            ErrorOccurred err => $"error: {Safe(err.Message)}",
            ConnectionRefused r => $"error: {Safe(r.Reason)}",
            TransferOffered o => $"{o.Id} {Safe(o.From)} offers {Safe(o.File)} ({Units.Bytes(o.Size)})",
            TransferStarted t => $"{t.Id} {(t.Direction == TransferDirection.Send ? "sending" : "receiving")} {Safe(t.File)} "
                + $"{(t.Direction == TransferDirection.Send ? "to " + Safe(t.To) : "from " + Safe(t.From))} ({Units.Bytes(t.Size)})"
                + (t.Offset > 0 ? $", resuming at {Units.Bytes(t.Offset)}" : ""),
            TransferProgress p => $"{p.Id} {Progress(p)}",
            TransferCompleted c => $"{c.Id} done: {Safe(c.File)} ({Units.Bytes(c.Size)} in {c.Seconds:0.0} s, sha256 {(c.Sha256.Length > 16 ? c.Sha256[..16] + "..." : c.Sha256)}) {Safe(c.Path)}",
            TransferFailed f => $"{f.Id} failed: {Safe(f.File)}: {Safe(f.Reason)}",
            TransferHeld h => $"{h.Id} kept by the server as {Safe(h.FileId)} for {h.Recipients} recipient{(h.Recipients == 1 ? "" : "s")}: your part is done",
            DeliveryChanged d => $"{Safe(d.FileId)} {Safe(d.File)} for {Safe(d.To)}: {DeliveryWord(d.State)}"
                + (d.State == DeliveryStatus.Receiving ? $" {Units.Bytes(d.Bytes)}/{Units.Bytes(d.Size)}" : "")
                + (d.Reason.Length > 0 ? $" ({Safe(d.Reason)})" : ""),
            TransferCancelled c => $"{c.Id} cancelled by {Safe(c.By)}: {Safe(c.File)}",
            TransfersListed l when l.Transfers.Count == 0 => "no transfers",
            TransfersListed l => string.Join("\n           ", ["transfers:", .. l.Transfers.Select(t =>
                $"{t.Id} {(t.Direction == TransferDirection.Send ? "to" : "from")} {Safe(t.Peer)} {Safe(t.File)} {StateWord(t.State)} {Units.Bytes(t.Bytes)}/{Units.Bytes(t.Total)}")]),
            PartialsListed l when l.Partials.Count == 0 => null,
            PartialsListed l => string.Join("\n           ", ["kept for a resume:", .. l.Partials.Select(p =>
                $"{Safe(p.File)} from {Safe(p.From)} {Units.Bytes(p.Bytes)}/{Units.Bytes(p.Total)}{(p.InUse ? " (resuming now)" : "")}, removed after {p.Expires.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}")]),
            _ => null,
        };
        return body is null ? null : $"[{now.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)}] {body}";
    }

    /// <summary>The start of a line of chat, enough to recognise it by.</summary>
    public static string Excerpt(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var firstLine = text.Split('\n', 2)[0];
        return firstLine.Length <= 60 && firstLine.Length == text.Length ? text : firstLine[..Math.Min(firstLine.Length, 59)] + "…";
    }

    /// <summary>A server on a loopback address is out of reach of other machines: say so, and how to change it.</summary>
    public static string Reach(Listening l)
    {
        ArgumentNullException.ThrowIfNull(l);
        return System.Net.IPAddress.TryParse(l.Host, out var ip) && System.Net.IPAddress.IsLoopback(ip)
            ? $"\n           only this machine can connect; for clients on other machines start with --host 0.0.0.0 (they connect with --host <this machine's address> --port {l.Port})"
            : "";
    }

    private static string Registered(Connected c) => c.Registered ? $"; the name {Safe(c.Name)} is registered to you" : "";

    private static string TrustWords(Security.TrustBasis? basis) => basis switch
    {
        Security.TrustBasis.GivenFingerprint => "the fingerprint given",
        Security.TrustBasis.KnownServer => "pinned in known_servers",
        Security.TrustBasis.CertificateAuthority => "certificate issued by a trusted CA",
        Security.TrustBasis.FirstUse => "trusted on first use",
        _ => "trusted",
    };

    /// <summary>The same words as <c>--json</c> (a person reading a listing and a script reading one see one vocabulary).</summary>
    /// <summary>The word for a delivery's state, as <c>--json</c> writes it too.</summary>
    public static string DeliveryWord(DeliveryStatus state) => state switch
    {
        DeliveryStatus.Waiting => "waiting",
        DeliveryStatus.Offered => "offered",
        DeliveryStatus.Receiving => "receiving",
        DeliveryStatus.Delivered => "delivered",
        DeliveryStatus.Rejected => "rejected",
        DeliveryStatus.Failed => "failed",
        _ => "expired",
    };

    private static string StateWord(TransferState state) => state switch
    {
        TransferState.Queued => "queued",
        TransferState.Offered => "offered",
        TransferState.Sending => "sending",
        TransferState.Receiving => "receiving",
        _ => "unknown",
    };

    /// <summary>"big.bin [#########-----------]  45%  1.2 GiB/2.6 GiB  850.0 MiB/s  ETA 0:02".</summary>
    public static string Progress(TransferProgress p)
    {
        ArgumentNullException.ThrowIfNull(p);
        const int width = 24;
        var fraction = p.Total == 0 ? 1 : (double)p.Bytes / p.Total;
        var filled = (int)Math.Round(fraction * width);
        var eta = p.Eta is { } e ? Units.Duration(e) : "?";
        return $"{Safe(p.File)} [{new string('#', filled)}{new string('-', width - filled)}] {fraction * 100,3:0}%  "
            + $"{Units.Bytes(p.Bytes)}/{Units.Bytes(p.Total)}  {Units.Bytes(p.Rate)}/s  ETA {eta}";
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
