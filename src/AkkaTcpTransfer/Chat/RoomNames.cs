namespace AkkaTcpTransfer.Chat;

/// <summary>What a room name may be: '#' and then a name as people's names are (<see cref="PeerNames"/>: 1 to 32
/// characters, nothing invisible, look-alikes the same), so "#Rust", "#rust" and "#Ruѕt" are one room.</summary>
internal static class RoomNames
{
    public const char Prefix = '#';

    /// <summary>True when <paramref name="target"/> names a room (starts with '#'), valid or not.</summary>
    public static bool IsRoom(string target) => target.StartsWith(Prefix);

    /// <summary>Null when <paramref name="room"/> is a valid room name, else why not.</summary>
    public static string? Validate(string room)
    {
        ArgumentNullException.ThrowIfNull(room);
        if (!IsRoom(room)) return $"a room's name starts with {Prefix} (#{room})";
        var rest = room[1..];
        if (rest.Length == 0) return $"a room needs a name after {Prefix}";
        return PeerNames.Validate(rest) is { } problem ? $"invalid room name: {problem.Replace("a name", "a room name", StringComparison.Ordinal)}" : null;
    }

    /// <summary>The form rooms are compared in (of a valid name): equal keys, same room.</summary>
    public static string Key(string room) => PeerNames.Key(room[1..]);

    /// <summary>The second form, as <see cref="PeerNames.ShapeKey"/>.</summary>
    public static string ShapeKey(string room) => PeerNames.ShapeKey(room[1..]);

    /// <summary>The entity id of a room: "room:KEY"; the server-wide room (<paramref name="room"/> empty) is "room:".</summary>
    public static string EntityId(string room) => "room:" + (room.Length == 0 ? "" : Key(room));
}
