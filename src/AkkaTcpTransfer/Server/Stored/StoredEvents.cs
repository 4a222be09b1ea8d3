namespace AkkaTcpTransfer.Server.Stored;

/// <summary>Marks what the server keeps in its database (events and snapshots of its persistent actors): Akka binds
/// these to <see cref="StoredEventSerializer"/> (hocon/reference.conf), which writes each with a short manifest that
/// never changes. Identities are the 32 hex digits of a client's 16-byte identity digest; times are Unix milliseconds.</summary>
internal interface IStored;

// ---------------------------------------------------------------- registered names (entity "names")

/// <summary>A name became its first user's (an identity), look-alikes included.</summary>
internal sealed record NameRegistered(string Name, string Identity, long AtMs) : IStored;

/// <summary>A name is free again: its owner released it ("released"), it went unused too long ("expired"), or an operator
/// freed it ("freed").</summary>
internal sealed record NameReleased(string Name, long AtMs, string Why) : IStored;

/// <summary>A registered name was used (recorded at most once a day per name: its expiry counts from here).</summary>
internal sealed record NameUsed(string Name, long AtMs) : IStored;

internal sealed record NameRecord(string Name, string Identity, long RegisteredMs, long UsedMs);

internal sealed record NamesSnapshot(IReadOnlyList<NameRecord> Names) : IStored;

// ---------------------------------------------------------------- the list of rooms (entity "rooms")

internal sealed record RoomListed(string Name, long AtMs) : IStored;

internal sealed record RoomUnlisted(string Name) : IStored;

/// <summary>A room's member count or topic changed (what the list of rooms shows).</summary>
internal sealed record RoomSummarised(string Name, int Members, string Topic) : IStored;

internal sealed record RoomEntry(string Name, long CreatedMs, int Members, string Topic);

internal sealed record DirectorySnapshot(IReadOnlyList<RoomEntry> Rooms) : IStored;

// ---------------------------------------------------------------- one room (entity "room:KEY"; the server-wide room is "room:")

/// <summary>The room's first event: its name as its creator spelled it.</summary>
internal sealed record RoomOpened(string Name, long AtMs) : IStored;

internal sealed record LineSaid(string From, long AtMs, string Text) : IStored;

internal sealed record MemberAdded(string Identity, string Name, long AtMs) : IStored;

internal sealed record MemberRemoved(string Identity, long AtMs) : IStored;

internal sealed record TopicSet(string By, long AtMs, string Topic) : IStored;

internal sealed record RecentLine(long Seq, string From, long AtMs, string Text);

internal sealed record RoomMember(string Identity, string Name);

/// <summary>Where the room's lines were at a point in time: retention by age deletes up to the last checkpoint older
/// than the limit without reading the journal.</summary>
internal sealed record Checkpoint(long Seq, long AtMs);

internal sealed record RoomSnapshot(string Name, long OpenedMs, string Topic, string TopicBy, long TopicAtMs, IReadOnlyList<RoomMember> Members,
    IReadOnlyList<RecentLine> Recent, IReadOnlyList<Checkpoint> Checkpoints, long DeletedTo) : IStored;

// ---------------------------------------------------------------- one client's account (entity "user:IDENTITY")

internal sealed record RoomEntered(string Room) : IStored;

internal sealed record RoomExited(string Room) : IStored;

/// <summary>A direct message for this account's owner, kept until delivered (and for a while after).</summary>
internal sealed record DirectStored(string From, string To, long AtMs, string Text) : IStored;

/// <summary>Direct messages up to this sequence number have reached the owner.</summary>
internal sealed record DirectDelivered(long UpTo) : IStored;

internal sealed record PendingDirect(long Seq, long AtMs, int Bytes);

internal sealed record AccountSnapshot(IReadOnlyList<string> Rooms, long Delivered, IReadOnlyList<PendingDirect> Pending) : IStored;

// ---------------------------------------------------------------- files kept for their recipients (entity "spool")

/// <summary>Someone a kept file is for: the name as the sender wrote it resolved to its holder, and its identity.</summary>
internal sealed record SpoolRecipient(string Name, string Identity);

/// <summary>A verified upload is kept (its content at spool/blobs/SHA256) for <paramref name="Recipients"/>, and, when
/// shared with <paramref name="Rooms"/>, for whoever is a member of one of them until it expires.</summary>
internal sealed record FileKept(string FileId, string Sha256, long Size, long Fingerprint, string File, string From, string FromIdentity,
    long AtMs, long ExpiresMs, IReadOnlyList<SpoolRecipient> Recipients, IReadOnlyList<SharedRoom> Rooms) : IStored;

/// <summary>A room a kept file was shared with: its name, and when that room was opened (a room closed and opened again
/// under the same name is another room, whose members do not get the first one's files).</summary>
internal sealed record SharedRoom(string Name, long OpenedMs);

/// <summary>A kept file reached its end for one recipient: delivered, rejected or failed (a <see cref="Protocol.DeliveryState"/>).</summary>
internal sealed record FileSettled(string FileId, string Identity, byte State, string Reason, long AtMs) : IStored;

/// <summary>A kept file's record is gone (expired, or lost), and with it, unless another record shares it, its content.</summary>
internal sealed record FileDropped(string FileId, string Why) : IStored;

internal sealed record KeptFileState(FileKept Kept, IReadOnlyList<(byte State, string Reason)> Recipients);

internal sealed record SpoolSnapshot(IReadOnlyList<KeptFileState> Files) : IStored;
