using System.Text;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Chat;

/// <summary>What a chat message may be: non-empty and at most the configured number of UTF-8 bytes. Any Unicode
/// is carried as sent; renderers (the console) neutralise control characters when they print.</summary>
internal static class ChatText
{
    /// <param name="allowEmpty">An empty text is valid (a room topic being cleared).</param>
    public static (WireCode Code, string Reason)? Validate(string text, int maxBytes, bool allowEmpty = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return allowEmpty ? null : (WireCode.InvalidMessage, "empty message");
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > maxBytes) return (WireCode.MessageTooLong, $"message of {bytes} bytes is longer than the limit of {maxBytes} bytes");
        return null;
    }
}
