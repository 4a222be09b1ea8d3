using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>The wire format frozen as bytes, one literal per frame type (the samples in <see cref="SampleFrames"/>).
/// A failure here means the wire changed: if that is deliberate, bump <see cref="ProtocolLimits.Version"/>, update
/// docs/PROTOCOL.md and these literals together.</summary>
public class GoldenBytesTests
{
    public static TheoryData<FrameType, string> Golden => new()
    {
        { FrameType.Hello, "0000002b01415454500005000120000005616c6963650006733363726574100102030405060708090a0b0c0d0e0f10" },
        { FrameType.Welcome, "000000610200050001200000067365727665720005616c696365100102030405060708090a0b0c0d0e0f100100000014000000c80000000100000005000003e8000007d0000000050000001400000002000000050000000200067365727665720003626f62" },
        { FrameType.Refused, "0000001a03000300156e616d652027616c696365272069732074616b656e" },
        { FrameType.Ping, "0000000104" },
        { FrameType.Goodbye, "000000080500080003627965" },
        { FrameType.Error, "0000001706000c00126e6f2073756368207065657220277a656427" },
        { FrameType.Say, "0000001b10000000070000001268c3a96c6c6f20e4b896e7958c20f09f8e89" },
        { FrameType.Chat, "00000026110003626f620005616c6963650000018bcfe5687b000fe38193e38293e381abe381a1e381af" },
        { FrameType.PeerJoined, "000000081200056361726f6c" },
        { FrameType.PeerLeft, "000000081300056361726f6c" },
        { FrameType.WhoRequest, "0000000114" },
        { FrameType.WhoReply, "00000019150000000300067365727665720005616c6963650003626f62" },
        { FrameType.SayAck, "0000000e16000000070000018bcfe5687b01" },
        { FrameType.SayRefused, "0000001c1700000008000f00136e6f742073656e743a20736c6f7720646f776e" },
        { FrameType.Offer, "00000043200a0b0c0d0005616c696365105e1d00112233445566778899aabbccdd0003626f62000f616c62756d2f7375622f622e62696e000000012a05f20008daa19ea6b30000" },
        { FrameType.Accept, "000000362100000007000000000001000020a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0001000000080000" },
        { FrameType.Reject, "0000000e22000000070007746f6f20626967" },
        { FrameType.Start, "000000112300000007000000000001000000080000" },
        { FrameType.Chunk, "00000012240000000700000001000000000102030405" },
        { FrameType.Ack, "0000000d25000000070000000100000005" },
        { FrameType.Done, "0000002d26000000070000000100000005a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" },
        { FrameType.Verified, "000000252700000007a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" },
        { FrameType.Cancel, "0000001b28000000070003626f62000f6368616e676564206d79206d696e64" },
        { FrameType.Fail, "0000001029000000070009" + "6469736b2066756c6c" },
        { FrameType.Held, "0000000f2a0a0b0c0d000466336b3900000002" },
        { FrameType.GetFile, "000000072c000466336b39" },
        { FrameType.Claim, "000000252d00000007a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" },
        { FrameType.Prove, "000000162e0000000700000000000100000000100004" + "01020304" },
        { FrameType.Proof, "000000252f00000007a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" },
        { FrameType.Delivery, "000000262b000466336b390005612e7478740003626f620400000000000000020000000000000002" + "0000" },
        { FrameType.JoinRoom, "0000000930000623636166c3a9" },
        { FrameType.LeaveRoom, "0000000931000623636166c3a9" },
        { FrameType.RoomsRequest, "0000000132" },
        { FrameType.MembersRequest, "0000000933000623636166c3a9" },
        { FrameType.SetTopic, "0000001d34000623636166c3a900126f6e207061726c65206672616ec3a7616973" },
        { FrameType.RoomJoined, "0000002235000623636166c3a900126f6e207061726c65206672616ec3a76169730000000300" },
        { FrameType.RoomLeft, "0000001c36000623636166c3a90000000f796f75206c6566742023636166c3a9" },
        { FrameType.RoomList, "000000323700000002000623636166c3a90000000300126f6e207061726c65206672616ec3a7616973000523727573740000000c0000" },
        { FrameType.MemberList, "0000001b38000623636166c3a9000000020005616c696365010003626f6200" },
        { FrameType.RoomTopic, "0000002c39000623636166c3a90005616c6963650000018bcfe5687b00126f6e207061726c65206672616ec3a7616973" },
        { FrameType.MemberJoined, "000000103a000623636166c3a900056361726f6c" },
        { FrameType.MemberLeft, "000000103b000623636166c3a900056361726f6c" },
        { FrameType.RoomRefused, "000000363c000623636166c3a9001200296f6e6c792061206d656d626572206f662023636166c3a92072656164732069747320686973746f7279" },
        { FrameType.HistoryRequest, "0000001350000623636166c3a900000000000000780032" },
        { FrameType.History, "00000027510003626f62000623636166c3a90000018bcfe5687b00000000000000770007626f6e6a6f7572" },
        { FrameType.HistoryEnd, "0000001252000623636166c3a9000000000000004601" },
        { FrameType.Unregister, "0000000153" },
        { FrameType.NameStatus, "0000002a540005616c69636500001f27616c69636527206973206e6f206c6f6e6765722072656769737465726564" },
        { FrameType.LinkHello, "0000002440000120a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" },
        { FrameType.LinkMessage, "000000124100016700072f757365722f780000010203" },
    };

    [Fact]
    public void There_is_one_golden_literal_per_frame_type() =>
        Assert.Equal(Enum.GetValues<FrameType>().Order(), Golden.Select(row => (FrameType)row[0]).Order());

    [Theory]
    [MemberData(nameof(Golden))]
    public void Encoder_produces_the_golden_bytes(FrameType type, string hex)
    {
        var frame = SampleFrames.All.Single(f => f.Type == type);
        Assert.Equal(hex, Convert.ToHexStringLower(FrameEncoder.Encode(frame)));
    }

    [Theory]
    [MemberData(nameof(Golden))]
    public void Decoder_reads_the_golden_bytes(FrameType type, string hex)
    {
        var output = new List<Frame>();
        new FrameDecoder(1024).Decode(Convert.FromHexString(hex), output);
        SampleFrames.AssertSameFrame(SampleFrames.All.Single(f => f.Type == type), Assert.Single(output));
    }
}
