using System.Collections;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>One representative frame of every type, with non-ASCII text where a frame carries text.</summary>
internal static class SampleFrames
{
    public static readonly byte[] Sha = Enumerable.Range(0, 32).Select(i => (byte)(0xA0 + i)).ToArray();

    public static IReadOnlyList<Frame> All { get; } =
    [
        new Hello(5, 73728, "alice", "s3cret", [.. Enumerable.Range(1, 16).Select(i => (byte)i)]),
        new Welcome(5, 73728, "server", "alice", [.. Enumerable.Range(1, 16).Select(i => (byte)i)], true, new ClientLimits(20, 200, 1, 5, 1000, 2000, 5, 20, 2, 5), ["server", "bob"]),
        new Refused(WireCode.NameTaken, "name 'alice' is taken"),
        Ping.Instance,
        new Goodbye(WireCode.ServerShutdown, "bye"),
        new Error(WireCode.UnknownPeer, "no such peer 'zed'"),
        new Say(7, "", "héllo 世界 🎉"),
        new Chat("bob", "alice", 1_700_000_000_123, "こんにちは"),
        new PeerJoined("carol"),
        new PeerLeft("carol"),
        WhoRequest.Instance,
        new WhoReply(["server", "alice", "bob"]),
        new SayAck(7, 1_700_000_000_123, true),
        new SayRefused(8, WireCode.RateLimited, "not sent: slow down"),
        new Offer(0x0a0b0c0d, "alice", [0x5e, 0x1d, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd], "bob", "album/sub/b.bin", 5_000_000_000, 638_000_000_000_000_000),
        new Accept(7, 65536, Sha, 65536, 524288),
        new Reject(7, "too big"),
        new Start(7, 65536, 524288),
        new Chunk(7, 4_294_967_296, new byte[] { 1, 2, 3, 4, 5 }),
        new Ack(7, 4_294_967_301),
        new Done(7, 4_294_967_301, Sha),
        new Verified(7, Sha),
        new Cancel(7, "bob", "changed my mind"),
        new Fail(7, "disk full"),
        new JoinRoom("#café"),
        new LeaveRoom("#café"),
        RoomsRequest.Instance,
        new MembersRequest("#café"),
        new SetTopic("#café", "on parle français"),
        new RoomJoined("#café", "on parle français", 3, false),
        new RoomLeft("#café", WireCode.Normal, "you left #café"),
        new RoomList([new RoomInfo("#café", 3, "on parle français"), new RoomInfo("#rust", 12, "")]),
        new MemberList("#café", [new MemberInfo("alice", true), new MemberInfo("bob", false)]),
        new RoomTopic("#café", "alice", 1_700_000_000_123, "on parle français"),
        new MemberJoined("#café", "carol"),
        new MemberLeft("#café", "carol"),
        new RoomRefused("#café", WireCode.NotMember, "only a member of #café reads its history"),
        new HistoryRequest("#café", 120, 50),
        new History("bob", "#café", 1_700_000_000_123, 119, "bonjour"),
        new HistoryEnd("#café", 70, true),
        Unregister.Instance,
        new NameStatus("alice", false, "'alice' is no longer registered"),
        new Held(0x0a0b0c0d, "f3k9", 2),
        new GetFile("f3k9"),
        new Claim(7, Sha),
        new Prove(7, 65536, 4096, [1, 2, 3, 4]),
        new Proof(7, Sha),
        new Delivery("f3k9", "a.txt", "bob", DeliveryState.Delivered, 2, 2, ""),
        new LinkHello(1, Sha),
        new LinkMessage("g", "/user/x", "", new byte[] { 1, 2, 3 }),
    ];

    public static IEnumerable<object[]> Each() => All.Select(f => new object[] { f.Type, f });

    /// <summary>Field-by-field equality that compares byte arrays, memories and lists by content.</summary>
    public static void AssertSameFrame(Frame expected, Frame actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        foreach (var p in expected.GetType().GetProperties())
        {
            if (p.Name == "EqualityContract") continue;
            var e = Normalize(p.GetValue(expected));
            var a = Normalize(p.GetValue(actual));
            Assert.True(Equals(e, a) || (e is IEnumerable ee && a is IEnumerable ae && ee.Cast<object>().SequenceEqual(ae.Cast<object>())),
                $"{expected.Type}.{p.Name}: expected {Show(e)}, got {Show(a)}");
        }
    }

    private static object? Normalize(object? v) => v is ReadOnlyMemory<byte> m ? m.ToArray() : v;

    private static string Show(object? v) => v is IEnumerable e and not string ? string.Join(",", e.Cast<object>()) : $"{v}";
}
