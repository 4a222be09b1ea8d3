namespace AkkaTcpTransfer.Protocol;

/// <summary>The one-byte type that follows every frame's length prefix. Values are part of the wire format
/// (docs/PROTOCOL.md); never renumber one.</summary>
public enum FrameType : byte
{
    // Session: 0x0_
    Hello = 0x01,
    Welcome = 0x02,
    Refused = 0x03,
    Ping = 0x04,
    Goodbye = 0x05,
    Error = 0x06,

    // Chat and presence: 0x1_
    Say = 0x10,
    Chat = 0x11,
    PeerJoined = 0x12,
    PeerLeft = 0x13,
    WhoRequest = 0x14,
    WhoReply = 0x15,
    SayAck = 0x16,
    SayRefused = 0x17,

    // File transfer: 0x2_
    Offer = 0x20,
    Accept = 0x21,
    Reject = 0x22,
    Start = 0x23,
    Chunk = 0x24,
    Ack = 0x25,
    Done = 0x26,
    Verified = 0x27,
    Cancel = 0x28,
    Fail = 0x29,
    Held = 0x2A,
    Delivery = 0x2B,
    GetFile = 0x2C,
    Claim = 0x2D,
    Prove = 0x2E,
    Proof = 0x2F,

    // Rooms: 0x3_
    JoinRoom = 0x30,
    LeaveRoom = 0x31,
    RoomsRequest = 0x32,
    MembersRequest = 0x33,
    SetTopic = 0x34,
    RoomJoined = 0x35,
    RoomLeft = 0x36,
    RoomList = 0x37,
    MemberList = 0x38,
    RoomTopic = 0x39,
    MemberJoined = 0x3A,
    MemberLeft = 0x3B,
    RoomRefused = 0x3C,

    // History and registered names: 0x5_
    HistoryRequest = 0x50,
    History = 0x51,
    HistoryEnd = 0x52,
    Unregister = 0x53,
    NameStatus = 0x54,

    // Between server nodes of a cluster, on node links only (never on a client's connection): 0x4_
    LinkHello = 0x40,
    LinkMessage = 0x41,
}
