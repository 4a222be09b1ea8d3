using System.Text;

namespace AkkaTcpTransfer.Chat;

/// <summary>A list of names trimmed to fit a frame. A server with thousands online cannot put every name in one
/// Welcome or WhoReply; the list keeps the first names that fit (the server first) and ends with "(+N more)", which
/// can never be a real name (names have no spaces).</summary>
internal static class NameList
{
    /// <param name="maxNames">At most this many names (besides the "(+N more)" entry), whatever the budget.</param>
    public static IReadOnlyList<string> Fit(IReadOnlyList<string> names, int budgetBytes, int maxNames = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(names);
        var used = 0;
        for (var i = 0; i < names.Count; i++)
        {
            used += 2 + Encoding.UTF8.GetByteCount(names[i]);
            if (i >= maxNames || used > budgetBytes - 32) // keep room for the "(+N more)" entry
                return [.. names.Take(i), $"(+{names.Count - i} more)"];
        }
        return names;
    }
}
