namespace AkkaTcpTransfer.Server.Lines;

/// <summary>The lines an entity (a room, an account) has lately taken on, by the key their asker gave them, so that an
/// asker that asks again gets the first answer instead of storing a second copy. An asker asks again when no answer
/// came: in a cluster its request may have gone to a node that died before the entity moved to another, and Akka
/// delivers nothing twice or for sure. The key is the asking session's origin (unique to the session and to the line it
/// asks about: a client's own line ids may repeat) and the line's id; a line without an origin (the server's own) is
/// never repeated.</summary>
internal sealed class RecentLines(int capacity)
{
    /// <summary>How a stored line was answered: its time stamp, the entity's event number, whether it is held for an
    /// offline recipient.</summary>
    public readonly record struct Outcome(long AtMs, long Seq, bool Held);

    private readonly Dictionary<string, Outcome?> _byKey = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public static string Key(string origin, uint id) => origin.Length == 0 ? "" : string.Concat(origin, ":", id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>True: a line not seen before, now in flight (store it). False: seen; <paramref name="done"/> is its
    /// answer, or null while it is still being stored (answer nothing now: the first request's answer is on its way).</summary>
    public bool TryBegin(string key, out Outcome? done)
    {
        done = null;
        if (key.Length == 0) return true;
        if (_byKey.TryGetValue(key, out done)) return false;
        _byKey[key] = null;
        _order.Enqueue(key);
        while (_order.Count > capacity) _byKey.Remove(_order.Dequeue());
        return true;
    }

    public void Done(string key, Outcome outcome)
    {
        if (key.Length != 0 && _byKey.ContainsKey(key)) _byKey[key] = outcome;
    }

    /// <summary>The line was not stored: a request that comes again may try again.</summary>
    public void Failed(string key)
    {
        if (key.Length != 0) _byKey.Remove(key);
    }
}
