using System.Globalization;
using System.Text;
using System.Text.Json;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Renders events as the one-line JSON objects of the command-line program's <c>--json</c> output. The event
/// names and fields are a contract relied on outside this repository (README "Events"): change them only on purpose.</summary>
public static class JsonEventFormatter
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

    private static bool Write(Utf8JsonWriter w, NodeEvent e)
    {
        switch (e)
        {
            case Listening l:
                w.WriteString("event", "listening");
                w.WriteString("host", l.Host);
                w.WriteNumber("port", l.Port);
                return true;
            case Connected c:
                w.WriteString("event", "connected");
                w.WriteString("server", c.Server);
                w.WriteString("name", c.Name);
                return true;
            case Disconnected d:
                w.WriteString("event", "disconnected");
                w.WriteString("reason", d.Reason);
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
                if (c.To is null) w.WriteNull("to");
                else w.WriteString("to", c.To);
                w.WriteString("text", c.Text);
                w.WriteString("at", Timestamp(c.At));
                return true;
            case ErrorOccurred err:
                w.WriteString("event", "error");
                w.WriteString("message", err.Message);
                return true;
            case ConnectionRefused r:
                w.WriteString("event", "error");
                w.WriteString("message", r.Reason);
                return true;
            default:
                return false;
        }
    }

    /// <summary>ISO 8601 in UTC with milliseconds: 2026-11-25T23:30:00.123Z.</summary>
    public static string Timestamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
