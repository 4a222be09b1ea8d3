using System.Net.Sockets;
using Akka.IO;

namespace AkkaTcpTransfer.Tcp;

/// <summary>SO_REUSEADDR and nothing else, so a restarted server rebinds its port at once while connections of the
/// previous run sit in TIME_WAIT. Not <c>Inet.SO.ReuseAddress</c>: on Linux .NET maps that to SO_REUSEADDR plus
/// SO_REUSEPORT, which would let a second server listen on the same port and silently take half the clients.
/// Windows needs nothing (it rebinds over TIME_WAIT by default, and its SO_REUSEADDR means port stealing).</summary>
internal sealed class ReuseAddressOnly : Inet.SocketOption
{
    public static readonly ReuseAddressOnly Instance = new();

    public override void BeforeServerSocketBind(Socket ss)
    {
        if (OperatingSystem.IsLinux()) ss.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()) ss.SetRawSocketOption(0xffff, 0x0004, BitConverter.GetBytes(1));
    }
}
