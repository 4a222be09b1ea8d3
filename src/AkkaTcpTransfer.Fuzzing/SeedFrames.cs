using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Fuzzing;

/// <summary>One well-formed frame of every type, the starting points of mutation. Values are ordinary ones a client
/// might send (ids, sizes, names), so that mutations land next to real code paths.</summary>
public static class SeedFrames
{
    private static readonly byte[] Sha = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    public static IReadOnlyList<Frame> All(string name, uint id) =>
    [
        new Hello(ProtocolLimits.Version, 73728, name, "", []),
        new Welcome(ProtocolLimits.Version, 73728, "server", name, Sha, true, new ClientLimits(20, 200, 1, 5, 1000, 2000, 5, 20, 2, 5), ["server", name]),
        new Refused(WireCode.NameTaken, "taken"),
        Ping.Instance,
        new Goodbye(WireCode.Normal, "bye"),
        new Error(WireCode.UnknownPeer, "nobody"),
        new Say(1, "", "hello everyone"),
        new Say(2, "server", "hello server"),
        new SayAck(1, 1_700_000_000_000, false),
        new SayRefused(2, WireCode.RateLimited, "slow down"),
        new Chat("server", "", 1_700_000_000_000, "hi"),
        new PeerJoined("x"),
        new PeerLeft("x"),
        WhoRequest.Instance,
        new WhoReply(["server", name]),
        new Say(3, "#lobby", "hello room"),
        new JoinRoom("#lobby"),
        new LeaveRoom("#lobby"),
        RoomsRequest.Instance,
        new MembersRequest("#lobby"),
        new SetTopic("#lobby", "a topic"),
        new RoomJoined("#lobby", "a topic", 2, false),
        new RoomLeft("#lobby", WireCode.Normal, "you left"),
        new RoomList([new RoomInfo("#lobby", 2, "a topic")]),
        new MemberList("#lobby", [new MemberInfo(name, true)]),
        new RoomTopic("#lobby", name, 1_700_000_000_000, "a topic"),
        new MemberJoined("#lobby", name),
        new MemberLeft("#lobby", name),
        new RoomRefused("#lobby", WireCode.NotMember, "not a member"),
        new HistoryRequest("#lobby", 0, 50),
        new History(name, "#lobby", 1_700_000_000_000, 7, "earlier"),
        new HistoryEnd("#lobby", 7, true),
        Unregister.Instance,
        new NameStatus(name, false, "released"),
        new Held(id, "f1", 2),
        new GetFile("f1"),
        new Claim(id, new byte[32]),
        new Prove(id, 4096, 65536, new byte[16]),
        new Proof(id, new byte[32]),
        new Delivery("f1", "fuzz.bin", name, DeliveryState.Receiving, 10, 1000, ""),
        new Offer(id, "", [], "server", "fuzz.bin", 1000, 1),
        new Accept(id, 0, [], 65536, 524288),
        new Reject(id, "no"),
        new Start(id, 0, 65536),
        new Chunk(id, 0, new byte[100]),
        new Ack(id, 100),
        new Done(id, 1000, Sha),
        new Verified(id, Sha),
        new Cancel(id, "", "stop"),
        new Fail(id, "broken"),
        new LinkHello(1, Sha),
        new LinkMessage("f", "akka.tcp://akka-tcp-transfer-server@127.0.0.1:7421/user/server/listener/peer-1", "", new byte[] { 0, 0, 0, 1, 4 }),
    ];
}
