using System.Globalization;
using System.Text;
using System.Text.Json;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Renders events as the one-line JSON objects of the command-line program's <c>--json</c> output. The event
/// names and fields are a contract relied on outside this repository (docs/EMBEDDING.md, "Events"): change them only
/// on purpose.</summary>
internal static class JsonEventFormatter
{
    /// <summary>The JSON line for <paramref name="e"/>, or null for an event that has no JSON form.</summary>
    public static string? Format(NodeEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (!Write(w, e)) return null;
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>An <c>error</c> line for a failure that is not an event (a node that could not start).</summary>
    public static string Error(string message) => Format(new ErrorOccurred(message))!;

    private static string TrustName(Security.TrustBasis basis) => basis switch
    {
        Security.TrustBasis.GivenFingerprint => "fingerprint",
        Security.TrustBasis.KnownServer => "known-server",
        Security.TrustBasis.CertificateAuthority => "ca",
        Security.TrustBasis.FirstUse => "first-use",
        _ => basis.ToString(),
    };

    private static void NullableString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteString(name, value);
    }

    private static bool Write(Utf8JsonWriter w, NodeEvent e)
    {
        switch (e)
        {
            case Listening l:
                w.WriteString("event", "listening");
                w.WriteString("host", l.Host);
                w.WriteNumber("port", l.Port);
                w.WriteBoolean("tls", l.Fingerprint is not null);
                if (l.Fingerprint is not null) w.WriteString("fingerprint", l.Fingerprint);
                if (l.CertificateFile is not null) w.WriteString("certificate", l.CertificateFile);
                return true;
            case WebListening web:
                w.WriteString("event", "web-listening");
                w.WriteString("url", web.Url);
                w.WriteBoolean("tls", web.Tls);
                return true;
            case Connected c:
                w.WriteString("event", "connected");
                w.WriteString("server", c.Server);
                w.WriteString("name", c.Name);
                w.WriteBoolean("tls", c.Fingerprint is not null);
                if (c.Fingerprint is not null) w.WriteString("fingerprint", c.Fingerprint);
                if (c.Trust is { } trust) w.WriteString("trust", TrustName(trust));
                if (c.Online is { } online)
                {
                    w.WriteStartArray("online");
                    foreach (var n in online) w.WriteStringValue(n);
                    w.WriteEndArray();
                }
                w.WriteBoolean("registered", c.Registered);
                return true;
            case ChatSent sent:
                w.WriteString("event", "chat-sent");
                w.WriteNumber("line", sent.Line);
                NullableString(w, "to", sent.To);
                w.WriteString("text", sent.Text);
                w.WriteString("at", Timestamp(sent.At));
                w.WriteBoolean("held", sent.Held);
                return true;
            case ChatNotSent notSent:
                w.WriteString("event", "chat-not-sent");
                w.WriteNumber("line", notSent.Line);
                NullableString(w, "to", notSent.To);
                w.WriteString("text", notSent.Text);
                w.WriteString("reason", notSent.Reason);
                return true;
            case ChatQueue queue:
                w.WriteString("event", "chat-queue");
                w.WriteNumber("waiting", queue.Waiting);
                return true;
            case TransferWaiting waiting:
                w.WriteString("event", "transfer-waiting");
                w.WriteString("id", waiting.Id);
                w.WriteString("file", waiting.File);
                w.WriteNumber("size", waiting.Size);
                w.WriteString("to", waiting.To);
                return true;
            case ServerPinned p:
                w.WriteString("event", "server-pinned");
                w.WriteString("server", p.Server);
                w.WriteString("fingerprint", p.Fingerprint);
                w.WriteString("file", p.File);
                return true;
            case Disconnected d:
                w.WriteString("event", "disconnected");
                w.WriteString("reason", d.Reason);
                return true;
            case ClusterMemberChanged m:
                w.WriteString("event", "cluster-member");
                w.WriteString("node", m.Node);
                w.WriteString("status", m.Status);
                w.WriteBoolean("self", m.Self);
                return true;
            case PeerJoined j:
                w.WriteString("event", "peer-joined");
                w.WriteString("name", j.Name);
                return true;
            case PeerLeft l:
                w.WriteString("event", "peer-left");
                w.WriteString("name", l.Name);
                return true;
            case WhoListed who:
                w.WriteString("event", "who");
                w.WriteStartArray("names");
                foreach (var n in who.Names) w.WriteStringValue(n);
                w.WriteEndArray();
                return true;
            case ChatReceived c:
                w.WriteString("event", "chat");
                w.WriteString("from", c.From);
                NullableString(w, "to", c.To);
                w.WriteString("text", c.Text);
                w.WriteString("at", Timestamp(c.At));
                return true;
            case JoinedRoom j:
                w.WriteString("event", "room-joined");
                w.WriteString("room", j.Room);
                w.WriteString("topic", j.Topic);
                w.WriteNumber("members", j.Members);
                w.WriteBoolean("rejoined", j.Rejoined);
                return true;
            case LeftRoom l:
                w.WriteString("event", "room-left");
                w.WriteString("room", l.Room);
                w.WriteString("reason", l.Reason);
                return true;
            case RoomRequestRefused r:
                w.WriteString("event", "room-refused");
                w.WriteString("room", r.Room);
                w.WriteString("reason", r.Reason);
                return true;
            case RoomsListed l:
                w.WriteString("event", "rooms");
                w.WriteStartArray("rooms");
                foreach (var r in l.Rooms)
                {
                    w.WriteStartObject();
                    w.WriteString("room", r.Room);
                    w.WriteNumber("members", r.Members);
                    w.WriteString("topic", r.Topic);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                return true;
            case MembersListed l:
                w.WriteString("event", "members");
                w.WriteString("room", l.Room);
                w.WriteStartArray("members");
                foreach (var m in l.Members)
                {
                    w.WriteStartObject();
                    w.WriteString("name", m.Name);
                    w.WriteBoolean("online", m.Online);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                return true;
            case TopicChanged t:
                w.WriteString("event", "topic");
                w.WriteString("room", t.Room);
                w.WriteString("by", t.By);
                w.WriteString("topic", t.Topic);
                w.WriteString("at", Timestamp(t.At));
                return true;
            case MemberJoinedRoom j:
                w.WriteString("event", "member-joined");
                w.WriteString("room", j.Room);
                w.WriteString("name", j.Name);
                return true;
            case MemberLeftRoom l:
                w.WriteString("event", "member-left");
                w.WriteString("room", l.Room);
                w.WriteString("name", l.Name);
                return true;
            case HistoryLine h:
                w.WriteString("event", "history");
                w.WriteString("from", h.From);
                NullableString(w, "to", h.To);
                w.WriteString("text", h.Text);
                w.WriteString("at", Timestamp(h.At));
                return true;
            case HistoryEnded h:
                w.WriteString("event", "history-end");
                NullableString(w, "target", h.Target);
                w.WriteBoolean("more", h.More);
                return true;
            case TransferHeld h:
                w.WriteString("event", "transfer-held");
                w.WriteString("id", h.Id);
                w.WriteString("file_id", h.FileId);
                w.WriteNumber("recipients", h.Recipients);
                return true;
            case DeliveryChanged d:
                w.WriteString("event", "delivery");
                w.WriteString("file_id", d.FileId);
                w.WriteString("file", d.File);
                w.WriteString("to", d.To);
                w.WriteString("state", HumanEventFormatter.DeliveryWord(d.State));
                w.WriteNumber("bytes", d.Bytes);
                w.WriteNumber("size", d.Size);
                w.WriteString("reason", d.Reason);
                return true;
            case NameRegistration n:
                w.WriteString("event", "name");
                w.WriteString("name", n.Name);
                w.WriteBoolean("registered", n.Registered);
                w.WriteString("reason", n.Reason);
                return true;
            case ErrorOccurred err:
                w.WriteString("event", "error");
                w.WriteString("message", err.Message);
                return true;
            case ConnectionRefused r:
                w.WriteString("event", "error");
                w.WriteString("message", r.Reason);
                return true;
            case TransferOffered o:
                w.WriteString("event", "transfer-offered");
                w.WriteString("id", o.Id);
                w.WriteString("file", o.File);
                w.WriteNumber("size", o.Size);
                w.WriteString("from", o.From);
                w.WriteString("to", o.To);
                return true;
            case TransferStarted t:
                w.WriteString("event", "transfer-started");
                w.WriteString("id", t.Id);
                w.WriteString("file", t.File);
                w.WriteNumber("size", t.Size);
                w.WriteString("from", t.From);
                w.WriteString("to", t.To);
                w.WriteString("direction", Direction(t.Direction));
                w.WriteNumber("offset", t.Offset);
                return true;
            case TransferProgress p:
                w.WriteString("event", "transfer-progress");
                w.WriteString("id", p.Id);
                w.WriteString("file", p.File);
                w.WriteNumber("bytes", p.Bytes);
                w.WriteNumber("total", p.Total);
                w.WriteNumber("rate", Math.Round(p.Rate));
                if (p.Eta is { } eta) w.WriteNumber("eta", Math.Round(eta, 1));
                else w.WriteNull("eta");
                return true;
            case TransferCompleted c:
                w.WriteString("event", "transfer-completed");
                w.WriteString("id", c.Id);
                w.WriteString("file", c.File);
                w.WriteString("path", c.Path);
                w.WriteNumber("size", c.Size);
                w.WriteString("sha256", c.Sha256);
                w.WriteNumber("seconds", Math.Round(c.Seconds, 3));
                w.WriteNumber("files", c.Files);
                return true;
            case TransferFailed f:
                w.WriteString("event", "transfer-failed");
                w.WriteString("id", f.Id);
                w.WriteString("file", f.File);
                w.WriteString("reason", f.Reason);
                return true;
            case TransferCancelled c:
                w.WriteString("event", "transfer-cancelled");
                w.WriteString("id", c.Id);
                w.WriteString("file", c.File);
                w.WriteString("by", c.By);
                return true;
            case TransfersListed l:
                w.WriteString("event", "transfers");
                w.WriteStartArray("transfers");
                foreach (var t in l.Transfers)
                {
                    w.WriteStartObject();
                    w.WriteString("id", t.Id);
                    w.WriteString("file", t.File);
                    w.WriteString("direction", Direction(t.Direction));
                    w.WriteString("peer", t.Peer);
                    w.WriteNumber("bytes", t.Bytes);
                    w.WriteNumber("total", t.Total);
                    w.WriteString("state", StateName(t.State));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                return true;
            case PartialsListed l:
                w.WriteString("event", "partials");
                w.WriteStartArray("partials");
                foreach (var p in l.Partials)
                {
                    w.WriteStartObject();
                    w.WriteString("file", p.File);
                    w.WriteString("from", p.From);
                    w.WriteNumber("bytes", p.Bytes);
                    w.WriteNumber("total", p.Total);
                    w.WriteString("expires", Timestamp(p.Expires));
                    w.WriteBoolean("in_use", p.InUse);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                return true;
            default:
                return false;
        }
    }

    private static string Direction(TransferDirection d) => d == TransferDirection.Send ? "send" : "receive";

    /// <summary>The words of the contract (docs/EMBEDDING.md), written out rather than derived from the enum's names, so
    /// that renaming a member cannot change the output.</summary>
    private static string StateName(TransferState state) => state switch
    {
        TransferState.Queued => "queued",
        TransferState.Offered => "offered",
        TransferState.Sending => "sending",
        TransferState.Receiving => "receiving",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "a transfer state without a name"),
    };

    /// <summary>ISO 8601 in UTC with milliseconds: 2026-11-25T23:30:00.123Z.</summary>
    public static string Timestamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
