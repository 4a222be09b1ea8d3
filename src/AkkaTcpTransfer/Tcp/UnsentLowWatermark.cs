using System.Net.Sockets;
using Akka.IO;

namespace AkkaTcpTransfer.Tcp;

/// <summary>TCP_NOTSENT_LOWAT (Linux): the kernel takes no more writes while this many bytes wait unsent in the socket.
/// Without it a socket buffer can hold megabytes of file data that every later chat frame must queue behind; with it
/// file data waits in our own queue, where chat overtakes it, while the transfer window can still be large enough to
/// fill a long, fat link (the bytes in flight on the network are not "unsent").</summary>
internal sealed class UnsentLowWatermark(int bytes) : Inet.SocketOption
{
    private const int IpProtoTcp = 6;
    private const int TcpNotSentLowat = 25;

    public override void AfterConnect(Socket s)
    {
        if (OperatingSystem.IsLinux() && bytes > 0) s.SetRawSocketOption(IpProtoTcp, TcpNotSentLowat, BitConverter.GetBytes(bytes));
    }
}
