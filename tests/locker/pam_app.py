#!/usr/bin/python3
"""A PAM application of the kind a screen locker is, written with ctypes
against the real libpam, for what pamtester cannot do: run
pam_authenticate with standard input and output closed, or with SIGCHLD
ignored (the kernel then reaps children itself, and a careless module
loses its helper's exit status).

    pam_app.py [--close 0,1,2] [--sigchld ignore|default] --result FILE SERVICE USER [ANSWER...]

Answers the prompts with the ANSWERs in turn (a conversation failure when
they run out). Writes FILE: {"rc": pam_authenticate's result, "prompts":
[...], "texts": [...]} (JSON).
Exit status 0 when pam_authenticate succeeded, 1 otherwise.
"""

import ctypes
import ctypes.util
import json
import os
import signal
import sys

PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_ERROR_MSG, PAM_TEXT_INFO = 1, 2, 3, 4
PAM_SUCCESS, PAM_CONV_ERR = 0, 19


class PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(PamMessage)),
                             ctypes.POINTER(ctypes.POINTER(PamResponse)), ctypes.c_void_p)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


def main(argv):
    args = argv[1:]
    close, sigchld, result = [], "default", None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--close":
            close = [int(x) for x in args.pop(0).split(",")]
        elif opt == "--sigchld":
            sigchld = args.pop(0)
        elif opt == "--result":
            result = args.pop(0)
    service, user, answers = args[0], args[1], list(args[2:])
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.calloc.restype = ctypes.c_void_p
    libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    libc.strdup.restype = ctypes.c_void_p
    libc.strdup.argtypes = [ctypes.c_char_p]
    libpam = ctypes.CDLL("libpam.so.0")
    prompts, texts = [], []

    def converse(n, msgs, resp, _data):
        replies = ctypes.cast(libc.calloc(n, ctypes.sizeof(PamResponse)), ctypes.POINTER(PamResponse))
        for i in range(n):
            m = msgs[i].contents
            text = (m.msg or b"").decode("utf-8", "replace")
            if m.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                prompts.append(text)
                if not answers:
                    return PAM_CONV_ERR   # (the replies leak: the process ends soon)
                replies[i].resp = libc.strdup(answers.pop(0).encode())
            else:
                texts.append(text)
        resp[0] = replies
        return PAM_SUCCESS

    conv = PamConv(CONV_FUNC(converse), None)
    pamh = ctypes.c_void_p()
    rc = libpam.pam_start(service.encode(), user.encode(), ctypes.byref(conv), ctypes.byref(pamh))
    if rc == PAM_SUCCESS:
        if sigchld == "ignore":
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        for fd in close:
            os.close(fd)
        rc = libpam.pam_authenticate(pamh, 0)
        libpam.pam_end(pamh, rc)
    with open(result, "w") as f:
        json.dump({"rc": rc, "prompts": prompts, "texts": texts}, f)
    os._exit(0 if rc == PAM_SUCCESS else 1)   # no flush of a closed stdout


if __name__ == "__main__":
    sys.exit(main(sys.argv))
