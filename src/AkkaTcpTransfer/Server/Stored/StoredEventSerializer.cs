using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Serialization;

namespace AkkaTcpTransfer.Server.Stored;

/// <summary>Writes what the server stores (<see cref="IStored"/>) as compact binary: UTF-8 strings with a length
/// prefix, little-endian numbers. A row names its type by a manifest of a letter and a version ("r1"); manifests and
/// this serializer's identifier are written into the database and must never be reused for something else. A change
/// to a type's layout gets a new manifest, and this class keeps reading the old one. An unknown manifest is a
/// <see cref="SerializationException"/>.</summary>
internal sealed class StoredEventSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Stored with every row: never change it (the cluster's serializer is 7420).</summary>
    public override int Identifier => 7421;

    public override string Manifest(object o) => o switch
    {
        NameRegistered => "n1",
        NameReleased => "n2",
        NameUsed => "n3",
        NamesSnapshot => "ns1",
        RoomListed => "d1",
        RoomUnlisted => "d2",
        RoomSummarised => "d3",
        DirectorySnapshot => "ds1",
        RoomOpened => "r5",
        LineSaid => "r1",
        MemberAdded => "r2",
        MemberRemoved => "r3",
        TopicSet => "r4",
        RoomSnapshot => "rs1",
        RoomEntered => "a1",
        RoomExited => "a2",
        DirectStored => "a3",
        DirectDelivered => "a4",
        AccountSnapshot => "as1",
        FileKept => "k4",
        FileSettled => "k2",
        FileDropped => "k3",
        SpoolSnapshot => "ks2",
        _ => throw new SerializationException($"{o.GetType()} is not stored by this program"),
    };

    public override byte[] ToBinary(object obj)
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            switch (obj)
            {
                case NameRegistered e:
                    w.Write(e.Name);
                    w.Write(e.Identity);
                    w.Write(e.AtMs);
                    break;
                case NameReleased e:
                    w.Write(e.Name);
                    w.Write(e.AtMs);
                    w.Write(e.Why);
                    break;
                case NameUsed e:
                    w.Write(e.Name);
                    w.Write(e.AtMs);
                    break;
                case NamesSnapshot s:
                    List(w, s.Names, (x, n) =>
                    {
                        x.Write(n.Name);
                        x.Write(n.Identity);
                        x.Write(n.RegisteredMs);
                        x.Write(n.UsedMs);
                    });
                    break;
                case RoomListed e:
                    w.Write(e.Name);
                    w.Write(e.AtMs);
                    break;
                case RoomUnlisted e:
                    w.Write(e.Name);
                    break;
                case RoomSummarised e:
                    w.Write(e.Name);
                    w.Write(e.Members);
                    w.Write(e.Topic);
                    break;
                case DirectorySnapshot s:
                    List(w, s.Rooms, (x, r) =>
                    {
                        x.Write(r.Name);
                        x.Write(r.CreatedMs);
                        x.Write(r.Members);
                        x.Write(r.Topic);
                    });
                    break;
                case RoomOpened e:
                    w.Write(e.Name);
                    w.Write(e.AtMs);
                    break;
                case LineSaid e:
                    w.Write(e.From);
                    w.Write(e.AtMs);
                    w.Write(e.Text);
                    break;
                case MemberAdded e:
                    w.Write(e.Identity);
                    w.Write(e.Name);
                    w.Write(e.AtMs);
                    break;
                case MemberRemoved e:
                    w.Write(e.Identity);
                    w.Write(e.AtMs);
                    break;
                case TopicSet e:
                    w.Write(e.By);
                    w.Write(e.AtMs);
                    w.Write(e.Topic);
                    break;
                case RoomSnapshot s:
                    w.Write(s.Name);
                    w.Write(s.OpenedMs);
                    w.Write(s.Topic);
                    w.Write(s.TopicBy);
                    w.Write(s.TopicAtMs);
                    List(w, s.Members, (x, m) =>
                    {
                        x.Write(m.Identity);
                        x.Write(m.Name);
                    });
                    List(w, s.Recent, (x, l) =>
                    {
                        x.Write(l.Seq);
                        x.Write(l.From);
                        x.Write(l.AtMs);
                        x.Write(l.Text);
                    });
                    List(w, s.Checkpoints, (x, c) =>
                    {
                        x.Write(c.Seq);
                        x.Write(c.AtMs);
                    });
                    w.Write(s.DeletedTo);
                    break;
                case RoomEntered e:
                    w.Write(e.Room);
                    break;
                case RoomExited e:
                    w.Write(e.Room);
                    break;
                case DirectStored e:
                    w.Write(e.From);
                    w.Write(e.To);
                    w.Write(e.AtMs);
                    w.Write(e.Text);
                    break;
                case DirectDelivered e:
                    w.Write(e.UpTo);
                    break;
                case AccountSnapshot s:
                    List(w, s.Rooms, (x, r) => x.Write(r));
                    w.Write(s.Delivered);
                    List(w, s.Pending, (x, p) =>
                    {
                        x.Write(p.Seq);
                        x.Write(p.AtMs);
                        x.Write(p.Bytes);
                    });
                    break;
                case FileKept e:
                    WriteKept(w, e);
                    break;
                case FileSettled e:
                    w.Write(e.FileId);
                    w.Write(e.Identity);
                    w.Write(e.State);
                    w.Write(e.Reason);
                    w.Write(e.AtMs);
                    break;
                case FileDropped e:
                    w.Write(e.FileId);
                    w.Write(e.Why);
                    break;
                case SpoolSnapshot s:
                    List(w, s.Files, (x, f) =>
                    {
                        WriteKept(x, f.Kept);
                        List(x, f.Recipients, (y, r) =>
                        {
                            y.Write(r.State);
                            y.Write(r.Reason);
                        });
                    });
                    break;
                default:
                    throw new SerializationException($"{obj.GetType()} is not stored by this program");
            }
        }
        return buffer.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
            object result = manifest switch
            {
                "n1" => new NameRegistered(r.ReadString(), r.ReadString(), r.ReadInt64()),
                "n2" => new NameReleased(r.ReadString(), r.ReadInt64(), r.ReadString()),
                "n3" => new NameUsed(r.ReadString(), r.ReadInt64()),
                "ns1" => new NamesSnapshot(List(r, x => new NameRecord(x.ReadString(), x.ReadString(), x.ReadInt64(), x.ReadInt64()))),
                "d1" => new RoomListed(r.ReadString(), r.ReadInt64()),
                "d2" => new RoomUnlisted(r.ReadString()),
                "d3" => new RoomSummarised(r.ReadString(), r.ReadInt32(), r.ReadString()),
                "ds1" => new DirectorySnapshot(List(r, x => new RoomEntry(x.ReadString(), x.ReadInt64(), x.ReadInt32(), x.ReadString()))),
                "r5" => new RoomOpened(r.ReadString(), r.ReadInt64()),
                "r1" => new LineSaid(r.ReadString(), r.ReadInt64(), r.ReadString()),
                "r2" => new MemberAdded(r.ReadString(), r.ReadString(), r.ReadInt64()),
                "r3" => new MemberRemoved(r.ReadString(), r.ReadInt64()),
                "r4" => new TopicSet(r.ReadString(), r.ReadInt64(), r.ReadString()),
                "rs1" => new RoomSnapshot(r.ReadString(), r.ReadInt64(), r.ReadString(), r.ReadString(), r.ReadInt64(),
                    List(r, x => new RoomMember(x.ReadString(), x.ReadString())),
                    List(r, x => new RecentLine(x.ReadInt64(), x.ReadString(), x.ReadInt64(), x.ReadString())),
                    List(r, x => new Checkpoint(x.ReadInt64(), x.ReadInt64())),
                    r.ReadInt64()),
                "a1" => new RoomEntered(r.ReadString()),
                "a2" => new RoomExited(r.ReadString()),
                "a3" => new DirectStored(r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadString()),
                "a4" => new DirectDelivered(r.ReadInt64()),
                "as1" => new AccountSnapshot(List(r, x => x.ReadString()), r.ReadInt64(),
                    List(r, x => new PendingDirect(x.ReadInt64(), x.ReadInt64(), x.ReadInt32()))),
                "k1" => ReadKept(r, withRooms: false),
                "k4" => ReadKept(r, withRooms: true),
                "k2" => new FileSettled(r.ReadString(), r.ReadString(), r.ReadByte(), r.ReadString(), r.ReadInt64()),
                "k3" => new FileDropped(r.ReadString(), r.ReadString()),
                "ks1" => new SpoolSnapshot(List(r, x => new KeptFileState(ReadKept(x, withRooms: false), List(x, y => (y.ReadByte(), y.ReadString()))))),
                "ks2" => new SpoolSnapshot(List(r, x => new KeptFileState(ReadKept(x, withRooms: true), List(x, y => (y.ReadByte(), y.ReadString()))))),
                _ => throw new SerializationException($"unknown stored manifest '{manifest}' (written by a newer version?)"),
            };
            if (r.BaseStream.Position != bytes.Length) throw new SerializationException($"{bytes.Length - r.BaseStream.Position} bytes left over reading '{manifest}'");
            return result;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or DecoderFallbackException or ArgumentException)
        {
            throw new SerializationException($"stored '{manifest}' of {bytes.Length} bytes is damaged: {e.Message}", e);
        }
    }

    private static void WriteKept(BinaryWriter w, FileKept e)
    {
        w.Write(e.FileId);
        w.Write(e.Sha256);
        w.Write(e.Size);
        w.Write(e.Fingerprint);
        w.Write(e.File);
        w.Write(e.From);
        w.Write(e.FromIdentity);
        w.Write(e.AtMs);
        w.Write(e.ExpiresMs);
        List(w, e.Recipients, (x, p) =>
        {
            x.Write(p.Name);
            x.Write(p.Identity);
        });
        List(w, e.Rooms, (x, room) =>
        {
            x.Write(room.Name);
            x.Write(room.OpenedMs);
        });
    }

    /// <summary>A kept file's record: "k1" (and snapshot "ks1") had no rooms; "k4" ("ks2") ends with them.</summary>
    private static FileKept ReadKept(BinaryReader r, bool withRooms) => new(r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadInt64(), r.ReadString(),
        r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadInt64(), List(r, x => new SpoolRecipient(x.ReadString(), x.ReadString())),
        withRooms ? List(r, x => new SharedRoom(x.ReadString(), x.ReadInt64())) : []);

    private static void List<T>(BinaryWriter w, IReadOnlyList<T> items, Action<BinaryWriter, T> write)
    {
        w.Write(items.Count);
        foreach (var item in items) write(w, item);
    }

    private static List<T> List<T>(BinaryReader r, Func<BinaryReader, T> read)
    {
        var count = r.ReadInt32();
        if (count < 0 || count > r.BaseStream.Length) throw new SerializationException($"a list of {count} items cannot be");
        var items = new List<T>(count);
        for (var i = 0; i < count; i++) items.Add(read(r));
        return items;
    }
}
