import SockDiag
